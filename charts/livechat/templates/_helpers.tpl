{{/*
Names, labels and the values every template derives from one place.
Object names are `<release>-<component>` (release `chat` gives Deployment `chat-app`),
truncated to 63 characters as DNS labels require.
*/}}

{{/* The chart name, for the app.kubernetes.io/name label. */}}
{{- define "livechat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: the release name unless fullnameOverride says otherwise. */}}
{{- define "livechat.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of one component's objects: (dict "root" $ "component" "app"). */}}
{{- define "livechat.componentName" -}}
{{- printf "%s-%s" (include "livechat.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name of a bundled StatefulSet: 52 characters at most, because its pods carry the label
`controller-revision-hash: <name>-<10-character hash>`, which must fit in 63.
*/}}
{{- define "livechat.statefulSetName" -}}
{{- include "livechat.componentName" . | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "livechat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: the stable subset that Deployments, StatefulSets, Services, PDBs and
NetworkPolicies select on; never add anything that changes across upgrades.
(dict "root" $ "component" "app")
*/}}
{{- define "livechat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "livechat.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label of a component's objects: the selector labels plus version and ownership. */}}
{{- define "livechat.labels" -}}
{{ include "livechat.selectorLabels" . }}
app.kubernetes.io/part-of: livechat
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "livechat.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of the bundled trial services, saying so where everyone looks. */}}
{{- define "livechat.trialLabels" -}}
{{ include "livechat.labels" . }}
livechat/not-for-production: "true"
{{- end -}}

{{- define "livechat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "livechat.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The livechat image reference: repository:tag, or repository@digest when a digest is set. */}}
{{- define "livechat.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* Seconds a chat pod may take to stop: preStop sleep + GRACEFUL_TIMEOUT + margin. */}}
{{- define "livechat.app.terminationGracePeriodSeconds" -}}
{{- $s := .Values.app.shutdown -}}
{{- add $s.preStopSleepSeconds .Values.app.config.gracefulTimeout $s.marginSeconds -}}
{{- end -}}

{{/* REDIS_URL for the chat server ("" when neither bundled nor external: embedded mode). */}}
{{- define "livechat.redisUrl" -}}
{{- if .Values.redis.bundled -}}
{{- printf "redis://%s:6379/0" (include "livechat.statefulSetName" (dict "root" . "component" "redis")) -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* Stable DNS name of the bundled Kafka broker pod, through its headless Service. */}}
{{- define "livechat.kafka.podHost" -}}
{{- $sts := include "livechat.statefulSetName" (dict "root" . "component" "kafka") -}}
{{- $headless := include "livechat.componentName" (dict "root" . "component" "kafka-headless") -}}
{{- printf "%s-0.%s.%s.svc.%s" $sts $headless .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* KAFKA_BOOTSTRAP_SERVERS for the chat server and the ingest ("" when there is no Kafka). */}}
{{- define "livechat.kafkaBootstrap" -}}
{{- if .Values.kafka.bundled -}}
{{- printf "%s:9092" (include "livechat.kafka.podHost" .) -}}
{{- else -}}
{{- .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{/*
Fail the render on contradictory values, with one line saying which value to change.
Called once from the chat server's ConfigMap, which is always rendered.
*/}}
{{- define "livechat.validate" -}}
{{- if and .Values.redis.bundled (or .Values.redis.url .Values.redis.existingSecret) -}}
{{- fail "redis.url/redis.existingSecret point at an external Redis: set redis.bundled=false to use it" -}}
{{- end -}}
{{- if and .Values.kafka.bundled .Values.kafka.bootstrapServers -}}
{{- fail "kafka.bootstrapServers points at an external Kafka: set kafka.bundled=false to use it" -}}
{{- end -}}
{{- $hasRedis := or .Values.redis.bundled .Values.redis.url .Values.redis.existingSecret -}}
{{- if and (not $hasRedis) (or .Values.app.autoscaling.enabled (gt (int .Values.app.replicaCount) 1)) -}}
{{- fail "more than one chat replica needs Redis: keep redis.bundled=true or set redis.url" -}}
{{- end -}}
{{- if and (not (include "livechat.kafkaBootstrap" .)) .Values.ingest.channels -}}
{{- fail "ingest.channels needs Kafka: keep kafka.bundled=true or set kafka.bootstrapServers" -}}
{{- end -}}
{{- if eq (int .Values.app.port) (int .Values.app.metricsPort) -}}
{{- fail "app.metricsPort must differ from app.port: metrics and readiness are served apart" -}}
{{- end -}}
{{- end -}}

{{/*
One ingest channel's settings: ingest.defaults with the channel entry's keys over them (maps
merged key by key, so `env: {A: x}` in a channel keeps the default env's other keys), plus
`slug` (the login as it appears in object names: lower case, `_` as `-`) and `objectName`.
Returns YAML; use with fromYaml. (dict "root" $ "channel" $entry)
*/}}
{{- define "livechat.ingest.channelConfig" -}}
{{- $cfg := deepCopy .root.Values.ingest.defaults -}}
{{- range $key, $value := .channel -}}
{{- if and (kindIs "map" $value) (kindIs "map" (get $cfg $key)) -}}
{{- $_ := set $cfg $key (mergeOverwrite (deepCopy (get $cfg $key)) (deepCopy $value)) -}}
{{- else -}}
{{- $_ := set $cfg $key $value -}}
{{- end -}}
{{- end -}}
{{- $slug := .channel.name | toString | lower | replace "_" "-" -}}
{{- $_ := set $cfg "slug" $slug -}}
{{- $_ := set $cfg "objectName" (include "livechat.componentName" (dict "root" .root "component" (printf "ingest-%s" $slug))) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
Every channel's settings, checked: two channels mapping to one object name fail the render.
Returns YAML `{channels: [...]}`; use with fromYaml.
*/}}
{{- define "livechat.ingest.channels" -}}
{{- $seen := dict -}}
{{- $out := list -}}
{{- range .Values.ingest.channels -}}
{{- $cfg := include "livechat.ingest.channelConfig" (dict "root" $ "channel" .) | fromYaml -}}
{{- if hasKey $seen $cfg.objectName -}}
{{- fail (printf "ingest.channels: %q and %q both map to the object name %q; remove or rename one" (get $seen $cfg.objectName) $cfg.name $cfg.objectName) -}}
{{- end -}}
{{- $_ := set $seen $cfg.objectName ($cfg.name | toString) -}}
{{- if and $cfg.nickname (not (or $.Values.ingest.auth.existingSecret $.Values.ingest.auth.token)) -}}
{{- fail (printf "ingest.channels: %q logs in as %q, which needs a token: set ingest.auth.existingSecret or ingest.auth.token (or an empty nickname for anonymous read-only)" $cfg.name $cfg.nickname) -}}
{{- end -}}
{{- $out = append $out $cfg -}}
{{- end -}}
{{- toYaml (dict "channels" $out) -}}
{{- end -}}

{{/* Name of the Secret holding the Twitch token ("" when there is none). */}}
{{- define "livechat.ingest.authSecretName" -}}
{{- if .Values.ingest.auth.existingSecret -}}
{{- .Values.ingest.auth.existingSecret -}}
{{- else if .Values.ingest.auth.token -}}
{{- include "livechat.componentName" (dict "root" . "component" "ingest-auth") -}}
{{- end -}}
{{- end -}}

{{/* Key of the Twitch token in that Secret. */}}
{{- define "livechat.ingest.authSecretKey" -}}
{{- if .Values.ingest.auth.existingSecret -}}
{{- .Values.ingest.auth.existingSecretKey -}}
{{- else -}}
token
{{- end -}}
{{- end -}}

{{/*
The data of one channel's ConfigMap: every ingest setting except the token, which only ever
comes from a Secret. (dict "root" $ "cfg" $channelConfig)
*/}}
{{- define "livechat.ingest.configData" -}}
{{- $cfg := .cfg -}}
{{- $v := .root.Values -}}
TWITCH_CHANNEL: {{ $cfg.name | toString | quote }}
IRC_SERVER: {{ $cfg.ircServer | quote }}
IRC_PORT: {{ $cfg.ircPort | int | quote }}
{{- if ne (toString $cfg.ircTls) "" }}
IRC_TLS: {{ $cfg.ircTls | toString | quote }}
{{- end }}
{{- with $cfg.nickname }}
IRC_NICKNAME: {{ . | quote }}
{{- end }}
KAFKA_BOOTSTRAP_SERVERS: {{ include "livechat.kafkaBootstrap" .root | quote }}
KAFKA_TOPIC: {{ $v.app.config.kafkaTopic | quote }}
METRICS_PORT: {{ $v.ingest.metricsPort | quote }}
SPOOL_DIR: {{ $v.ingest.spool.mountPath | quote }}
SPOOL_MAX_BYTES: {{ $v.ingest.spool.maxBytes | int64 | quote }}
{{- range $name, $value := $cfg.env }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}
