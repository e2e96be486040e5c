{{/* The chart's name. */}}
{{- define "badbatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's name for its objects. */}}
{{- define "badbatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service: the pods' stable DNS names, the gossip seeds. */}}
{{- define "badbatch.headless" -}}
{{- printf "%s-headless" (include "badbatch.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "badbatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "badbatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "badbatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "badbatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: badbatch
{{- end }}

{{- define "badbatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "badbatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "badbatch.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* HTTPS or HTTP, for the probes and the ServiceMonitor. */}}
{{- define "badbatch.scheme" -}}
{{- if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* Refuse values that would leave the cluster open. */}}
{{- define "badbatch.validate" -}}
{{- if not .Values.apiKeys.existingSecret }}
{{- fail "apiKeys.existingSecret is required: the server listens off loopback and refuses to run without authentication (a Secret whose api-keys key holds the security.api_keys list)" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "tls.existingSecret is required while tls.enabled is true (a kubernetes.io/tls Secret); set tls.enabled=false only behind a TLS-terminating proxy" }}
{{- end }}
{{- if lt (int .Values.replicas) 1 }}
{{- fail "replicas must be at least 1" }}
{{- end }}
{{- end }}
