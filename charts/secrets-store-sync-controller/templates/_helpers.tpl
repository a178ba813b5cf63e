{{/*
Object names are upstream's, fixed: the end-to-end suite and existing role bindings look them up.
Only the ServiceAccount follows controllerName, and so does every policy's user (helper below).
*/}}
{{- define "ssc.serviceAccountName" -}}
{{- required "controllerName must name the controller's ServiceAccount" .Values.controllerName -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "ssc.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: secrets-store-sync-controller
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
secrets-store.io/system: "true"
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The Deployment's selector, upstream's (a selector cannot change on upgrade). */}}
{{- define "ssc.selectorLabels" -}}
control-plane: controller-manager
secrets-store.io/system: "true"
{{- end -}}

{{/* The pods' labels: podLabels over the common labels, the selector's over both. */}}
{{- define "ssc.podLabels" -}}
{{- $labels := merge (include "ssc.selectorLabels" . | fromYaml) (.Values.podLabels | default dict) (include "ssc.labels" . | fromYaml) -}}
{{- toYaml $labels -}}
{{- end -}}

{{/* The subject of every binding: the controller's ServiceAccount. */}}
{{- define "ssc.subjects" -}}
- kind: ServiceAccount
  name: {{ include "ssc.serviceAccountName" . | quote }}
  namespace: {{ .Release.Namespace }}
{{- end -}}

{{/*
The token audiences, trimmed, without empty entries (upstream's default is one entry without an
audience).
*/}}
{{- define "ssc.audiences" -}}
{{- $audiences := list -}}
{{- range .Values.tokenRequestAudience -}}
{{- $audience := "" -}}
{{- if kindIs "map" . -}}
{{- $audience = toString (.audience | default "") | trim -}}
{{- else if kindIs "string" . -}}
{{- $audience = trim . -}}
{{- end -}}
{{- if $audience -}}
{{- $audiences = append $audiences $audience -}}
{{- end -}}
{{- end -}}
{{- toJson $audiences -}}
{{- end -}}

{{/* A CEL string literal in single quotes. */}}
{{- define "ssc.celString" -}}
{{- printf "'%s'" (. | replace "\\" "\\\\" | replace "'" "\\'") -}}
{{- end -}}

{{/* A CEL list of strings in double quotes, as ["a", "b"]. */}}
{{- define "ssc.celStringList" -}}
{{- $items := list -}}
{{- range . -}}
{{- $items = append $items (printf "\"%s\"" (toString . | replace "\\" "\\\\" | replace "\"" "\\\"")) -}}
{{- end -}}
{{- printf "[%s]" (join ", " $items) -}}
{{- end -}}

{{/* Every policy applies to the controller's ServiceAccount only. */}}
{{- define "ssc.matchConditions" -}}
matchConditions:
  - name: user-is-secrets-store-sync-controller
    expression: {{ printf "request.userInfo.username == 'system:serviceaccount:%s:%s'" .Release.Namespace (include "ssc.serviceAccountName" .) | quote }}
{{- end -}}

{{/* The image: the tag, or the chart's appVersion. */}}
{{- define "ssc.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) -}}
{{- end -}}

{{/*
The one user the provider sidecars name in their securityContext, or "" when none names one or they
name different ones.
*/}}
{{- define "ssc.providerUser" -}}
{{- $users := list -}}
{{- range .Values.providerContainer -}}
{{- $user := dig "securityContext" "runAsUser" "" (. | default dict) -}}
{{- if ne (toString $user) "" -}}
{{- $users = append $users (toString $user) -}}
{{- end -}}
{{- end -}}
{{- if eq (len (uniq $users)) 1 -}}
{{- first $users -}}
{{- end -}}
{{- end -}}

{{/*
The manager container's securityContext. Connecting to a provider's socket needs write permission
on it, and a provider creates its socket writable by its own user only: with runAsProviderUser the
manager runs as the user its sidecars name.
*/}}
{{- define "ssc.managerSecurityContext" -}}
{{- $sc := deepCopy (.Values.securityContext | default dict) -}}
{{- $user := include "ssc.providerUser" . -}}
{{- if and .Values.runAsProviderUser $user -}}
{{- $_ := set $sc "runAsUser" (int64 $user) -}}
{{- if eq $user "0" -}}
{{- $_ = set $sc "runAsNonRoot" false -}}
{{- end -}}
{{- end -}}
{{- toYaml $sc -}}
{{- end -}}
