{{/*
The public interface: what a parent chart includes in its own pod template.
Keep these names and their context; README.md documents them.

  containers:            # or initContainers: with sidecar.native: true
    - name: app
      …
    {{- include "loopcanary.sidecar.container" (dict "root" $ "values" .Values.loopcanary) | nindent 4 }}
  volumes:
    {{- include "loopcanary.sidecar.volumes" (dict "root" $ "values" .Values.loopcanary) | nindent 4 }}

and, optionally, under the pod template's metadata.annotations (rolls the
pod when the config changes):

    {{- include "loopcanary.sidecar.podAnnotations" (dict "root" $ "values" .Values.loopcanary) | nindent 8 }}

Each renders a YAML list item (or map entries) without leading indentation;
the caller indents it with nindent. The ConfigMap they mount is rendered by
the loopcanary chart itself (configmap.yaml), under the same name.
*/}}

{{/* The loopcanary container, a list item. */}}
{{- define "loopcanary.sidecar.container" -}}
{{- $v := .values -}}
{{- $s := $v.sidecar -}}
- name: {{ $s.name }}
  image: {{ include "loopcanary.image" $v.image | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if $s.native }}
  # A native sidecar (Kubernetes >= 1.29): starts before the app's
  # containers and stops after them.
  restartPolicy: Always
  {{- end }}
  args:
    - --web.listen-address=:{{ $s.port }}
    - --log.level={{ $s.logLevel }}
    - --log.format={{ $s.logFormat }}
    {{- if $s.enableAdminAPI }}
    - --web.enable-admin-api
    {{- end }}
    {{- if $s.enableLifecycle }}
    - --web.enable-lifecycle
    {{- end }}
    {{- range $s.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  ports:
    - name: loopcanary
      containerPort: {{ $s.port }}
      protocol: TCP
  {{- with $s.env }}
  env:
    {{- include "loopcanary.render" (dict "value" . "root" $.root) | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: {{ $s.name }}-config
      mountPath: /etc/loopcanary
      readOnly: true
    {{- with $s.extraVolumeMounts }}
    {{- include "loopcanary.render" (dict "value" . "root" $.root) | nindent 4 }}
    {{- end }}
  {{- with $s.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $s.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $s.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $s.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* The config volume the container mounts, a list item. */}}
{{- define "loopcanary.sidecar.volumes" -}}
- name: {{ .values.sidecar.name }}-config
  configMap:
    name: {{ include "loopcanary.configMapName" . }}
{{- end -}}

{{/* Pod annotations: a checksum of the config, so a changed config rolls
the pods (loopcanary also reloads on SIGHUP or POST /-/reload). */}}
{{- define "loopcanary.sidecar.podAnnotations" -}}
checksum/loopcanary-config: {{ include "loopcanary.configText" . | sha256sum }}
{{- end -}}
