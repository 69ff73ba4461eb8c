// Command validate checks rendered Kubernetes manifests the way an API
// server would accept them, without a cluster:
//
//   - core kinds (ConfigMap, Service, Deployment, …) are decoded strictly
//     into the upstream k8s.io/api types: an unknown or duplicate field is
//     an error, as with `kubectl apply --validate=strict`; then a few rules
//     the API server's validation enforces on pod specs are checked
//     (names, port names, probes naming declared ports, mounts naming
//     declared volumes, restartPolicy only on init containers);
//   - custom resources are checked against the upstream projects' CRD
//     schemas, read from their Go modules at the versions pinned in
//     crds.txt: unknown fields (what the API server prunes, and rejects with
//     fieldValidation=Strict), the OpenAPI schema, and the CRDs' CEL rules,
//     with k8s.io/apiextensions-apiserver's own code.
//
// Usage: validate -crds crds.txt [manifest.yaml ...]   (stdin when none)
//
//	validate -patch patch.yaml base.yaml   # prints base with the strategic-
//	                                      # merge patch applied (a Deployment)
//	validate -argo-success C -argo-failure F < results.json
//	    # for each Prometheus result ([[], [2], …]) prints the phase Argo
//	    # Rollouts gives a measurement: Successful, Failed or Inconclusive
//
// Prints one line per object ("ok Kind/name" or "error Kind/name: …") and
// exits 1 when any object is invalid, 2 on a usage or setup error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/antonmedv/expr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	crvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// crd is one served version of a custom resource.
type crd struct {
	source     string
	namespaced bool
	structural *structuralschema.Structural
	validator  crvalidation.SchemaValidator
	cel        *cel.Validator
}

func main() {
	crdsList := flag.String("crds", "", "crds.txt: module@version and CRD files in it")
	patch := flag.String("patch", "", "a strategic-merge patch to apply to the Deployment given as argument")
	argoSuccess := flag.String("argo-success", "", "an Argo Rollouts successCondition to evaluate")
	argoFailure := flag.String("argo-failure", "", "an Argo Rollouts failureCondition to evaluate")
	flag.Parse()
	if *argoSuccess != "" || *argoFailure != "" {
		if err := argoPhases(*argoSuccess, *argoFailure, os.Stdin); err != nil {
			fail(err.Error())
		}
		return
	}
	if *patch != "" {
		if err := applyPatch(*patch, flag.Arg(0)); err != nil {
			fail(err.Error())
		}
		return
	}
	if *crdsList == "" {
		fail("-crds is required")
	}
	crds, err := loadCRDs(*crdsList)
	if err != nil {
		fail(err.Error())
	}

	var input []byte
	if flag.NArg() == 0 {
		input, err = io.ReadAll(os.Stdin)
	} else {
		for _, path := range flag.Args() {
			b, readErr := os.ReadFile(path)
			if readErr != nil {
				err = readErr
				break
			}
			input = append(input, []byte("\n---\n")...)
			input = append(input, b...)
		}
	}
	if err != nil {
		fail(err.Error())
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			fail(err.Error())
		}
	}
	strict := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

	invalid, count := 0, 0
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(input)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(err.Error())
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		count++
		name, errs := validateDocument(doc, strict, scheme, crds)
		if len(errs) == 0 {
			fmt.Printf("ok %s\n", name)
			continue
		}
		invalid++
		for _, e := range errs {
			fmt.Printf("error %s: %s\n", name, e)
		}
	}
	if count == 0 {
		fail("no objects in the input")
	}
	if invalid > 0 {
		os.Exit(1)
	}
}

func fail(message string) {
	fmt.Fprintf(os.Stderr, "validate: %s\n", message)
	os.Exit(2)
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out.WriteString(line + "\n")
		}
	}
	return out.Bytes()
}

func validateDocument(doc []byte, strict runtime.Decoder, scheme *runtime.Scheme, crds map[string]*crd) (string, []string) {
	// Strict YAML → JSON: duplicate keys are errors too.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return "?", []string{err.Error()}
	}
	var obj map[string]interface{}
	if err := json.Unmarshal(js, &obj); err != nil {
		return "?", []string{err.Error()}
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	metadata, _ := obj["metadata"].(map[string]interface{})
	objName, _ := metadata["name"].(string)
	name := fmt.Sprintf("%s/%s", kind, objName)

	group := strings.Split(apiVersion, "/")[0]
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	if c, ok := crds[apiVersion+"/"+kind]; ok {
		return name, validateCustomResource(obj, c)
	}
	if group != "" && group != "apps" {
		return name, []string{fmt.Sprintf("no schema for %s %s: neither a core kind nor a CRD in crds.txt", apiVersion, kind)}
	}
	decoded, gvk, err := strict.Decode(js, nil, nil)
	if err != nil {
		return name, []string{err.Error()}
	}
	var errs field.ErrorList
	switch o := decoded.(type) {
	case *corev1.ConfigMap:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain)...)
		for key := range o.Data {
			for _, msg := range validation.IsConfigMapKey(key) {
				errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, msg))
			}
		}
	case *corev1.Service:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apimachineryvalidation.NameIsDNS1035Label)...)
		for i, p := range o.Spec.Ports {
			errs = append(errs, portName(field.NewPath("spec", "ports").Index(i).Child("name"), p.Name)...)
		}
		errs = append(errs, metav1validation.ValidateLabels(o.Spec.Selector, field.NewPath("spec", "selector"))...)
	case *appsv1.Deployment:
		errs = append(errs, validateMeta(&o.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain)...)
		errs = append(errs, validateDeployment(o)...)
	default:
		return name, []string{fmt.Sprintf("%s: decoded, but this validator has no rules for it; add them", gvk)}
	}
	return name, toStrings(errs)
}

func validateMeta(meta interface {
	GetName() string
	GetNamespace() string
	GetLabels() map[string]string
	GetAnnotations() map[string]string
}, namespaced bool, nameFn apimachineryvalidation.ValidateNameFunc) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("metadata")
	for _, msg := range nameFn(meta.GetName(), false) {
		errs = append(errs, field.Invalid(path.Child("name"), meta.GetName(), msg))
	}
	if namespaced && meta.GetNamespace() != "" {
		for _, msg := range apimachineryvalidation.ValidateNamespaceName(meta.GetNamespace(), false) {
			errs = append(errs, field.Invalid(path.Child("namespace"), meta.GetNamespace(), msg))
		}
	}
	if !namespaced && meta.GetNamespace() != "" {
		errs = append(errs, field.Forbidden(path.Child("namespace"), "a cluster-scoped object has no namespace"))
	}
	errs = append(errs, metav1validation.ValidateLabels(meta.GetLabels(), path.Child("labels"))...)
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(meta.GetAnnotations(), path.Child("annotations"))...)
	return errs
}

func portName(path *field.Path, name string) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		return errs
	}
	for _, msg := range validation.IsValidPortName(name) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

// validateDeployment: the rules of the API server's pod validation that a
// chart can get wrong and strict decoding does not see.
func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	selector := d.Spec.Selector
	if selector == nil || len(selector.MatchLabels) == 0 {
		errs = append(errs, field.Required(spec.Child("selector"), "a Deployment needs a selector"))
	} else {
		for k, v := range selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), d.Spec.Template.Labels,
					fmt.Sprintf("does not match the selector %s=%s", k, v)))
			}
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(d.Spec.Template.Labels, spec.Child("template", "metadata", "labels"))...)
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(d.Spec.Template.Annotations, spec.Child("template", "metadata", "annotations"))...)

	pod := d.Spec.Template.Spec
	podPath := spec.Child("template", "spec")
	volumes := map[string]bool{}
	for i, v := range pod.Volumes {
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			errs = append(errs, field.Invalid(podPath.Child("volumes").Index(i).Child("name"), v.Name, msg))
		}
		if volumes[v.Name] {
			errs = append(errs, field.Duplicate(podPath.Child("volumes").Index(i).Child("name"), v.Name))
		}
		volumes[v.Name] = true
	}
	if len(pod.Containers) == 0 {
		errs = append(errs, field.Required(podPath.Child("containers"), "a pod needs a container"))
	}
	names := map[string]bool{}
	check := func(path *field.Path, c corev1.Container, init bool) {
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(path.Child("name"), c.Name, msg))
		}
		if names[c.Name] {
			errs = append(errs, field.Duplicate(path.Child("name"), c.Name))
		}
		names[c.Name] = true
		if c.Image == "" {
			errs = append(errs, field.Required(path.Child("image"), ""))
		}
		if c.RestartPolicy != nil && (!init || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
			errs = append(errs, field.Forbidden(path.Child("restartPolicy"), "only init containers may set it, and only to Always"))
		}
		ports := map[string]bool{}
		for i, p := range c.Ports {
			errs = append(errs, portName(path.Child("ports").Index(i).Child("name"), p.Name)...)
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				errs = append(errs, field.Invalid(path.Child("ports").Index(i).Child("containerPort"), p.ContainerPort, "must be 1-65535"))
			}
			ports[p.Name] = true
		}
		for probeName, probe := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
			if probe == nil {
				continue
			}
			if init && c.RestartPolicy == nil {
				errs = append(errs, field.Forbidden(path.Child(probeName), "may not be set for init containers without restartPolicy=Always"))
			}
			if probe.HTTPGet != nil && probe.HTTPGet.Port.StrVal != "" && !ports[probe.HTTPGet.Port.StrVal] {
				errs = append(errs, field.Invalid(path.Child(probeName, "httpGet", "port"), probe.HTTPGet.Port.StrVal, "names no port of this container"))
			}
		}
		for i, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				errs = append(errs, field.NotFound(path.Child("volumeMounts").Index(i).Child("name"), m.Name))
			}
		}
		if c.Resources.Limits != nil {
			for res, req := range c.Resources.Requests {
				if limit, ok := c.Resources.Limits[res]; ok && req.Cmp(limit) > 0 {
					errs = append(errs, field.Invalid(path.Child("resources", "requests").Key(string(res)), req.String(), "must be less than or equal to the limit"))
				}
			}
		}
	}
	for i, c := range pod.InitContainers {
		check(podPath.Child("initContainers").Index(i), c, true)
	}
	for i, c := range pod.Containers {
		check(podPath.Child("containers").Index(i), c, false)
	}
	return errs
}

func validateCustomResource(obj map[string]interface{}, c *crd) []string {
	var errs field.ErrorList
	meta, _ := obj["metadata"].(map[string]interface{})
	ns, _ := meta["namespace"].(string)
	if !c.namespaced && ns != "" {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "namespace"), "a cluster-scoped object has no namespace"))
	}
	name, _ := meta["name"].(string)
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), name, msg))
	}
	if labels, ok := meta["labels"].(map[string]interface{}); ok {
		l := map[string]string{}
		for k, v := range labels {
			s, isString := v.(string)
			if !isString {
				errs = append(errs, field.Invalid(field.NewPath("metadata", "labels").Key(k), v, "must be a string"))
			}
			l[k] = s
		}
		errs = append(errs, metav1validation.ValidateLabels(l, field.NewPath("metadata", "labels"))...)
	}
	// What the API server would prune: with fieldValidation=Strict, an error.
	pruned := runtime.DeepCopyJSON(obj)
	unknown := pruning.PruneWithOptions(pruned, c.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(path), nil, "unknown field (the CRD's schema has no such field) in "+c.source))
	}
	errs = append(errs, crvalidation.ValidateCustomResource(nil, obj, c.validator)...)
	if c.cel != nil {
		celErrs, _ := c.cel.Validate(context.Background(), nil, c.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return toStrings(errs)
}

func toStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// loadCRDs reads crds.txt ("module@version path/in/module.yaml ..." per
// line), downloads each module with `go mod download` (checksums verified
// against the Go checksum database) and indexes every served version of
// every CRD in the listed files by "group/version/Kind".
func loadCRDs(list string) (map[string]*crd, error) {
	text, err := os.ReadFile(list)
	if err != nil {
		return nil, err
	}
	out := map[string]*crd{}
	for _, line := range strings.Split(string(text), "\n") {
		fields := strings.Fields(strings.SplitN(line, "#", 2)[0])
		if len(fields) == 0 {
			continue
		}
		dir, err := moduleDir(fields[0])
		if err != nil {
			return nil, err
		}
		for _, rel := range fields[1:] {
			if err := readCRDFile(filepath.Join(dir, rel), fields[0]+"/"+rel, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func moduleDir(module string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %v %s %s %s", module, runErr, info.Error, stdout.String(), stderr.String())
	}
	return info.Dir, nil
}

func readCRDFile(path, source string, out map[string]*crd) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	found := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		var def apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(doc, &def); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		if def.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range def.Spec.Versions {
			if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return fmt.Errorf("%s %s: %w", source, def.Name, err)
			}
			structural, err := structuralschema.NewStructural(internal)
			if err != nil {
				return fmt.Errorf("%s %s: not a structural schema: %w", source, def.Name, err)
			}
			validator, _, err := crvalidation.NewSchemaValidator(internal)
			if err != nil {
				return fmt.Errorf("%s %s: %w", source, def.Name, err)
			}
			c := &crd{source: source, namespaced: def.Spec.Scope == apiextensionsv1.NamespaceScoped,
				structural: structural, validator: validator,
				cel: cel.NewValidator(structural, true, celconfig.PerCallLimit)}
			out[def.Spec.Group+"/"+v.Name+"/"+def.Spec.Names.Kind] = c
			found++
		}
	}
	if found == 0 {
		return fmt.Errorf("%s: no served CRD version with a schema", source)
	}
	return nil
}

// applyPatch applies a strategic-merge patch (a kustomize `patches:` entry,
// `kubectl patch --type strategic`) to a Deployment with apimachinery's
// implementation, which merges containers and volumes by name, and prints
// the result as YAML.
func applyPatch(patchPath, basePath string) error {
	toJSON := func(path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return yaml.YAMLToJSONStrict(b)
	}
	patchJSON, err := toJSON(patchPath)
	if err != nil {
		return err
	}
	baseJSON, err := toJSON(basePath)
	if err != nil {
		return err
	}
	merged, err := strategicpatch.StrategicMergePatch(baseJSON, patchJSON, appsv1.Deployment{})
	if err != nil {
		return err
	}
	out, err := yaml.JSONToYAML(merged)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(out)
	return err
}

// argoPhases evaluates an AnalysisTemplate metric's conditions the way Argo
// Rollouts v1.9 does (utils/evaluate: the same expression library at the
// version it pins, the same environment, the same phase rules) for each
// Prometheus vector result, given as a list of float lists on stdin.
func argoPhases(success, failure string, in io.Reader) error {
	var results [][]float64
	if err := json.NewDecoder(in).Decode(&results); err != nil {
		return err
	}
	eval := func(condition string, result []float64) (bool, error) {
		env := map[string]any{
			"result":  result,
			"asInt":   func(f float64) int64 { return int64(f) },
			"asFloat": func(f float64) float64 { return f },
			"isNaN":   math.IsNaN,
			"isInf":   func(f float64) bool { return math.IsInf(f, 0) },
		}
		program, err := expr.Compile(condition, expr.Env(env))
		if err != nil {
			return false, err
		}
		out, err := expr.Run(program, env)
		if err != nil {
			return false, err
		}
		b, ok := out.(bool)
		if !ok {
			return false, fmt.Errorf("expected bool, but got %T", out)
		}
		return b, nil
	}
	for _, result := range results {
		var ok, failed bool
		var err error
		if success != "" {
			if ok, err = eval(success, result); err != nil {
				return err
			}
		}
		if failure != "" {
			if failed, err = eval(failure, result); err != nil {
				return err
			}
		}
		switch {
		case success != "" && failure == "":
			failed = !ok
		case success == "" && failure != "":
			ok = !failed
		}
		phase := "Successful"
		if failed {
			phase = "Failed"
		} else if !ok {
			phase = "Inconclusive"
		}
		fmt.Println(phase)
	}
	return nil
}
