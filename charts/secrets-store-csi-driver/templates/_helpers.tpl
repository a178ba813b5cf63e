{{/* Chart name, or nameOverride. */}}
{{- define "sscd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of the DaemonSet: fullnameOverride, else the release name when it already holds the chart name. */}}
{{- define "sscd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "sscd.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The ServiceAccount keeps upstream's fixed name: cluster role bindings made outside the chart refer
to it.
*/}}
{{- define "sscd.serviceAccountName" -}}
secrets-store-csi-driver
{{- end -}}

{{/* Labels on every object. The app label is also the DaemonSet selector, as upstream. */}}
{{- define "sscd.labels" -}}
app.kubernetes.io/name: {{ include "sscd.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
app: {{ include "sscd.name" . | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
An image reference from {repository, tag, digest}: the digest wins over the tag; an empty tag means
the chart's appVersion. Call with (dict "image" <values> "root" $).
*/}}
{{- define "sscd.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (toString (default .root.Chart.AppVersion .image.tag)) -}}
{{- end -}}
{{- end -}}

{{/* Port number of an address such as ":8095" or "0.0.0.0:8095". */}}
{{- define "sscd.metricsPort" -}}
{{- regexReplaceAll "^.*:" (toString .Values.linux.metricsAddr) "" -}}
{{- end -}}
