{{/*
Helpers. Every one takes an explicit context, (dict "root" $ "values" <the
loopcanary values>), so the same helper serves this chart's own templates
and a parent chart that includes the sidecar (where $ is the parent's and
the values are .Values.loopcanary). None of them reads .Chart: as a
dependency, .Chart would be the parent's.
*/}}

{{/* The object name prefix: <release>-loopcanary, or the release name when
it already says loopcanary, or fullnameOverride. */}}
{{- define "loopcanary.fullname" -}}
{{- $v := .values -}}
{{- if $v.fullnameOverride -}}
{{- $v.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "loopcanary" $v.nameOverride -}}
{{- if contains $name .root.Release.Name -}}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* fullname-<suffix>, kept within 63 characters (Service and DNS label
names). Context: (dict "root" $ "values" $v "suffix" "metrics"). */}}
{{- define "loopcanary.suffixed" -}}
{{- $max := int (sub 62 (len .suffix)) -}}
{{- printf "%s-%s" (include "loopcanary.fullname" . | trunc $max | trimSuffix "-") .suffix -}}
{{- end -}}

{{/* The ConfigMap that holds loopcanary.yaml. */}}
{{- define "loopcanary.configMapName" -}}
{{- include "loopcanary.suffixed" (dict "root" .root "values" .values "suffix" "config") -}}
{{- end -}}

{{/* loopcanary.yaml as text: `config` as YAML, or a string through tpl. */}}
{{- define "loopcanary.configText" -}}
{{- if kindIs "string" .values.config -}}
{{- tpl .values.config .root -}}
{{- else -}}
{{- toYaml .values.config -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag, or @digest when one is given. Context: an
image map (registry, repository, tag, digest). */}}
{{- define "loopcanary.image" -}}
{{- $ref := .repository -}}
{{- if .registry -}}
{{- $ref = printf "%s/%s" .registry .repository -}}
{{- end -}}
{{- if .digest -}}
{{- printf "%s@%s" $ref .digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/* A user-supplied block: a list or map as YAML, a string through tpl
(Bitnami's tplvalues.render). Context: (dict "value" … "root" $). */}}
{{- define "loopcanary.render" -}}
{{- if kindIs "string" .value -}}
{{- tpl .value .root -}}
{{- else -}}
{{- toYaml .value -}}
{{- end -}}
{{- end -}}

{{/* Labels of this chart's own objects (never of the user's pods). */}}
{{- define "loopcanary.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "loopcanary.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: loopcanary
{{- with .values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "loopcanary.selectorLabels" -}}
app.kubernetes.io/name: {{ default "loopcanary" .values.nameOverride | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* "true" when the API (group/version) is served, or assumed in
assumeAPIVersions for `helm template`. Context: (dict "root" $ "values" $v
"api" "monitoring.coreos.com/v1" "kind" "PodMonitor"). */}}
{{- define "loopcanary.hasAPI" -}}
{{- if or (.root.Capabilities.APIVersions.Has .api) (.root.Capabilities.APIVersions.Has (printf "%s/%s" .api .kind)) (has .api .values.assumeAPIVersions) -}}
true
{{- end -}}
{{- end -}}

{{/* Which pods the PodMonitor/metrics Service select: the chart's own
(standalone, demo) unless a selector is given; as a sidecar with none,
every pod (the PodMonitor keeps only those with a `loopcanary` port). */}}
{{- define "loopcanary.ownsPods" -}}
{{- if or (eq .values.mode "standalone") .values.demo.enabled -}}
true
{{- end -}}
{{- end -}}
