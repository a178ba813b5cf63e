{{/* Chart name, or nameOverride; also the app label and the DaemonSet selector, as upstream. */}}
{{- define "provider.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* fullnameOverride, else the release name when it already holds the chart name. */}}
{{- define "provider.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "provider.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "provider.serviceAccountName" -}}
{{- default (include "provider.fullname" .) .Values.rbac.serviceAccountName -}}
{{- end -}}

{{- define "provider.labels" -}}
app.kubernetes.io/name: {{ include "provider.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- if .Values.helmLabels }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end }}
app: {{ include "provider.name" . | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The provider container's securityContext. Writing into a pod's volume (driverWritesSecrets=false)
means walking the kubelet's pod folders, which are mode 0750 and owned by root: only user 0 can.
*/}}
{{- define "provider.securityContext" -}}
{{- $sc := deepCopy .Values.securityContext -}}
{{- if not .Values.driverWritesSecrets -}}
{{- $_ := set $sc "runAsNonRoot" false -}}
{{- $_ = set $sc "runAsUser" 0 -}}
{{- $_ = set $sc "runAsGroup" 0 -}}
{{- end -}}
{{- toYaml $sc -}}
{{- end -}}
