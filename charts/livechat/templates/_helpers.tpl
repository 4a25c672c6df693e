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

{{/*
Pod labels of the bundled Redis and Kafka: no version or chart label, so a chart or app version
bump does not change their pod template, restart them and (with emptyDir) wipe their data.
*/}}
{{- define "livechat.trialPodLabels" -}}
{{ include "livechat.selectorLabels" . }}
app.kubernetes.io/part-of: livechat
livechat/not-for-production: "true"
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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
{{- $auth := ternary ":$(REDIS_PASSWORD)@" "" .Values.redis.auth.enabled -}}
{{- printf "redis://%s%s:6379/0" $auth (include "livechat.statefulSetName" (dict "root" . "component" "redis")) -}}
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
{{- include "livechat.validateImage" . -}}
{{- end -}}

{{/*
The default image (`livechat`, no registry) exists in no registry: it runs only where it was
loaded into the nodes (make image, then kind/minikube load, or `make cluster`). At install time
(`lookup` sees the nodes; `helm template` sees none and skips this), fail with one line instead
of pods stuck in ImagePullBackOff when no node has it. Repositories with a registry host are
left to the registry.
*/}}
{{- define "livechat.validateImage" -}}
{{- $repo := .Values.image.repository -}}
{{- $first := index (splitList "/" $repo) 0 -}}
{{- $hasRegistry := and (contains "/" $repo) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- if and (not $hasRegistry) (not .Values.image.digest) -}}
{{- $nodes := lookup "v1" "Node" "" "" -}}
{{- if and $nodes $nodes.items -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString -}}
{{- $path := ternary $repo (printf "library/%s" $repo) (contains "/" $repo) -}}
{{- $wanted := list (printf "%s:%s" $repo $tag) (printf "docker.io/%s:%s" $path $tag) (printf "localhost/%s:%s" $repo $tag) -}}
{{- $found := false -}}
{{- range $nodes.items -}}
{{- range (.status.images | default list) -}}
{{- range (.names | default list) -}}
{{- if has . $wanted -}}{{- $found = true -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- fail (printf "image.repository: %s:%s is on no node and no registry has it; set image.repository (and image.tag) to the image you pushed, or build it with `make image` and load it into the nodes (docs/cluster.md)" $repo $tag) -}}
{{- end -}}
{{- end -}}
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
{{- range (include "livechat.ingest.entries" . | fromYaml).entries -}}
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

{{/*
The entries of ingest.channels as a list, each with `name` (the login): the map form
`{<login>: {...}}` in login order, or the deprecated list form `[{name: <login>, ...}]` as it is.
Returns YAML `{entries: [...], legacyList: bool}`; use with fromYaml.
*/}}
{{- define "livechat.ingest.entries" -}}
{{- $out := list -}}
{{- $channels := .Values.ingest.channels | default dict -}}
{{- if kindIs "map" $channels -}}
{{- range $login, $entry := $channels -}}
{{- $out = append $out (merge (dict "name" $login) (deepCopy ($entry | default dict))) -}}
{{- end -}}
{{- else -}}
{{- $out = $channels -}}
{{- end -}}
{{- toYaml (dict "entries" $out "legacyList" (kindIs "slice" $channels)) -}}
{{- end -}}

{{/*
The channels the chart renders as ingest Deployments itself: all of them without the operator,
none with it (the operator then renders them from TwitchChannel resources).
Returns YAML `{channels: [...]}`; use with fromYaml.
*/}}
{{- define "livechat.ingest.chartChannels" -}}
{{- if .Values.operator.enabled -}}
{{- $_ := include "livechat.ingest.channels" . -}}
channels: []
{{- else -}}
{{- include "livechat.ingest.channels" . -}}
{{- end -}}
{{- end -}}

{{/*
What the operator needs to render every channel's ingest as this chart would: names, labels,
image, security contexts, Kafka, spool, the token's Secret and ingest.defaults. JSON, mounted as
the operator's OPERATOR_RELEASE_CONFIG (livechat_operator/config.py reads and checks it).
*/}}
{{- define "livechat.operator.releaseConfig" -}}
{{- $sel := dict "root" . "component" "ingest" -}}
{{- $i := .Values.ingest -}}
{{- $auth := dict "secretName" (include "livechat.ingest.authSecretName" .) "secretKey" (include "livechat.ingest.authSecretKey" . | trim) -}}
{{- if and $i.auth.token (not $i.auth.existingSecret) -}}
{{- $_ := set $auth "checksum" ($i.auth.token | sha256sum) -}}
{{- end -}}
{{- $spool := dict "mountPath" $i.spool.mountPath "maxBytes" ($i.spool.maxBytes | int64) "sizeLimit" ($i.spool.sizeLimit | toString) "persistence" $i.spool.persistence -}}
{{- $cfg := dict "fullname" (include "livechat.fullname" .) -}}
{{- $_ := set $cfg "labels" (include "livechat.labels" $sel | fromYaml) -}}
{{- $_ := set $cfg "selectorLabels" (include "livechat.selectorLabels" $sel | fromYaml) -}}
{{- $_ := set $cfg "image" (include "livechat.image" .) -}}
{{- $_ := set $cfg "imagePullPolicy" .Values.image.pullPolicy -}}
{{- $_ := set $cfg "imagePullSecrets" (.Values.imagePullSecrets | default list) -}}
{{- $_ := set $cfg "serviceAccountName" (include "livechat.serviceAccountName" .) -}}
{{- $_ := set $cfg "automountServiceAccountToken" .Values.serviceAccount.automountToken -}}
{{- $_ := set $cfg "podSecurityContext" .Values.podSecurityContext -}}
{{- $_ := set $cfg "securityContext" .Values.securityContext -}}
{{- $_ := set $cfg "kafkaBootstrapServers" (include "livechat.kafkaBootstrap" .) -}}
{{- $_ := set $cfg "kafkaTopic" .Values.app.config.kafkaTopic -}}
{{- $_ := set $cfg "metricsPort" ($i.metricsPort | int) -}}
{{- $_ := set $cfg "spool" $spool -}}
{{- $_ := set $cfg "auth" $auth -}}
{{- $_ := set $cfg "defaults" $i.defaults -}}
{{- toPrettyJson $cfg -}}
{{- end -}}

{{/*
Fail when a bundled StatefulSet's persistence setting differs from the installed one: its
volumeClaimTemplates are immutable, so the upgrade would be refused half-way. `lookup` sees
nothing under `helm template`, so only a real upgrade is checked.
(dict "root" $ "name" <StatefulSet name> "key" "redis" "enabled" <bool>)
*/}}
{{- define "livechat.persistenceUnchanged" -}}
{{- $live := lookup "apps/v1" "StatefulSet" .root.Release.Namespace .name -}}
{{- if $live -}}
{{- $had := gt (len ($live.spec.volumeClaimTemplates | default list)) 0 -}}
{{- if ne $had .enabled -}}
{{- fail (printf "%s.persistence.enabled: cannot change from %v to %v on an installed release (StatefulSet volumeClaimTemplates are immutable); keep %v or migrate as docs/cluster.md says" .key $had .enabled $had) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Secret and key holding the bundled Redis' password. */}}
{{- define "livechat.redisPasswordSecret" -}}
{{- .Values.redis.auth.existingSecret | default (include "livechat.componentName" (dict "root" . "component" "redis")) -}}
{{- end -}}
{{- define "livechat.redisPasswordKey" -}}
{{- ternary .Values.redis.auth.existingSecretKey "redis-password" (ne .Values.redis.auth.existingSecret "") -}}
{{- end -}}

{{/* The env entry REDIS_PASSWORD, from the bundled Redis' password Secret. */}}
{{- define "livechat.redisPasswordEnv" -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "livechat.redisPasswordSecret" . }}
      key: {{ include "livechat.redisPasswordKey" . }}
{{- end -}}
