package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// config is everything `outpost` (serve, --export, --import) reads from its
// environment and flags. Each setting has an environment variable and a
// flag; the flag wins. docs/configuration.md documents every one of them
// (TestConfigurationDocumentsEveryFlag keeps it so).
type config struct {
	// compiler, when set (by serve), compiles policies and logs their
	// warnings once; nil means query.Compile.
	compiler replica.Compiler

	// Compatible with Oso's fallback node.
	APIToken    string
	Environment string
	Tenant      string
	ClientID    string
	Port        int
	Directory   string
	LogLevel    string

	// Outpost's own.
	Listen             string
	ControlPlaneURL    string
	Source             string
	KafkaBrokers       string
	KafkaTopic         string
	NATSURL            string
	NATSStream         string
	PollWait           time.Duration
	CheckpointInterval time.Duration
	CheckpointKeep     int
	CacheBytes         int64
	Consistency        string
	ConsistencyWait    time.Duration
	Auth               string
	MaxSteps           int
	ShutdownTimeout    time.Duration
	MaxContextFacts    int
	MaxContextBytes    int
	RequestMemoryMiB   int
	MemoryLimitMiB     int
	GCPercent          int
	RefreshInterval    time.Duration
	RefreshTimeout     time.Duration
	VerifyRate         float64
	StatusAuth         bool

	// Secure transports (tls.go).
	security

	// Answer size and query memory limits (issue #17).
	MaxResultRows      int
	MaxResultMiB       int
	QueryMemoryMiB     int
	QueryMemoryPoolMiB int

	// Modes and development inputs.
	Export     string
	Import     string
	PolicyFile string
	EventsFile string

	// policyState is --policy and --events loaded by run before serving,
	// so that a bad file is one error line, not a failure inside serve.
	policyState *replica.State

	// envSet names the environment variable of each flag whose value came
	// from the environment (not overridden by the flag), flagSet the flags
	// given, envOf every flag's variable: error messages name the source.
	envSet, envOf map[string]string
	flagSet       map[string]bool
}

// envLookup reads the environment; tests replace it.
type envLookup func(string) (string, bool)

// parseConfig builds the configuration from defaults, then the environment,
// then the flags in args.
func parseConfig(args []string, env envLookup, stderr io.Writer) (*config, error) {
	c := &config{envSet: map[string]string{}, envOf: map[string]string{}, flagSet: map[string]bool{}}
	fs := flag.NewFlagSet("outpost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs.Output(), fs) }
	var errs []error
	str := func(p *string, name, envName, def, usage string) {
		c.envOf[name] = envName
		if v, ok := env(envName); ok {
			def = v
			c.envSet[name] = envName
		}
		fs.StringVar(p, name, def, usage+" (env "+envName+")")
	}
	num := func(p *int, name, envName string, def int, usage string) {
		c.envOf[name] = envName
		if v, ok := env(envName); ok {
			c.envSet[name] = envName
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not an integer", envName, v))
			} else {
				def = n
			}
		}
		fs.IntVar(p, name, def, usage+" (env "+envName+")")
	}
	dur := func(p *time.Duration, name, envName string, def time.Duration, usage string) {
		c.envOf[name] = envName
		if v, ok := env(envName); ok {
			c.envSet[name] = envName
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not a duration (e.g. 250ms, 5m)", envName, v))
			} else {
				def = d
			}
		}
		fs.DurationVar(p, name, def, usage+" (env "+envName+")")
	}
	var disableTelemetry, disableErrorLogging string
	var cacheMiB int

	secretFlag(fs, env, &c.APIToken, "api-token", "OSO_API_TOKEN", "API key the node presents to the control plane and its feeds")
	str(&c.Environment, "environment", "OSO_ENVIRONMENT", "default", "environment whose policy and facts this node serves")
	str(&c.Tenant, "tenant", "OSO_TENANT", "", "tenant name, recorded in checkpoints")
	str(&c.ClientID, "client-id", "OSO_CLIENT_ID", "", "client id, reported in /status")
	num(&c.Port, "port", "OSO_PORT", 8080, "port to serve the Check API on")
	str(&c.Directory, "directory", "OSO_DIRECTORY", "./.oso", "data directory for checkpoints")
	str(&c.LogLevel, "log-level", "OSO_LOG_LEVEL", "error", "log level: error, warn, info or debug (start-up, readiness and shutdown are always logged)")
	str(&disableTelemetry, "disable-telemetry", "OSO_DISABLE_TELEMETRY", "", "accepted for compatibility; Outpost sends no telemetry")
	str(&disableErrorLogging, "disable-error-logging", "OSO_DISABLE_ERROR_LOGGING", "", "accepted for compatibility; Outpost reports errors to nobody")

	str(&c.Listen, "listen", "OUTPOST_LISTEN", "", "address to listen on (default :PORT)")
	str(&c.ControlPlaneURL, "control-plane-url", "OUTPOST_CONTROL_PLANE_URL", "", "base URL of the control plane (snapshots, event feed)")
	str(&c.Source, "source", "OUTPOST_SOURCE", "", "ingest source: poll, kafka, nats, oso-api or none (default poll with a control plane URL, else none)")
	str(&c.KafkaBrokers, "kafka-brokers", "OUTPOST_KAFKA_BROKERS", "", "comma-separated Kafka bootstrap brokers")
	str(&c.KafkaTopic, "kafka-topic", "OUTPOST_KAFKA_TOPIC", "", "Kafka topic (default outpost.ENV.events)")
	str(&c.NATSURL, "nats-url", "OUTPOST_NATS_URL", "", "NATS server URL")
	str(&c.NATSStream, "nats-stream", "OUTPOST_NATS_STREAM", "", "JetStream stream (default OUTPOST_ENV)")
	dur(&c.PollWait, "poll-wait", "OUTPOST_POLL_WAIT", 25*time.Second, "long-poll wait of the poll source")
	dur(&c.CheckpointInterval, "checkpoint-interval", "OUTPOST_CHECKPOINT_INTERVAL", 5*time.Minute, "how often to write a checkpoint when the revision moved")
	num(&c.CheckpointKeep, "checkpoint-keep", "OUTPOST_CHECKPOINT_KEEP", 2, "checkpoints to keep in the data directory")
	num(&cacheMiB, "cache-mib", "OUTPOST_CACHE_MIB", 64, "answer cache size in MiB (0 disables it)")
	str(&c.Consistency, "consistency", "OUTPOST_CONSISTENCY", "wait", "when a request's OsoOffset is ahead: wait (then answer, marked stale) or strict (then 503)")
	dur(&c.ConsistencyWait, "consistency-wait", "OUTPOST_CONSISTENCY_WAIT", 250*time.Millisecond, "how long to wait for ingest to reach a request's OsoOffset")
	str(&c.Auth, "auth", "OUTPOST_AUTH", "tokens", "client authentication: tokens (API keys from the control plane) or none (local development)")
	num(&c.MaxSteps, "max-steps", "OUTPOST_MAX_STEPS", 0, "evaluation budget per question (0: the engine's default)")
	num(&c.MaxContextFacts, "max-context-facts", "OUTPOST_MAX_CONTEXT_FACTS", 100_000, "context facts accepted in one request (0: no limit)")
	num(&c.MaxContextBytes, "max-context-bytes", "OUTPOST_MAX_CONTEXT_BYTES", 0, "bytes of context_facts JSON accepted in one request (0: only the 10 MiB body limit)")
	num(&c.RequestMemoryMiB, "request-memory-mib", "OUTPOST_REQUEST_MEMORY_MIB", 256, "memory budget in MiB of request bodies being read and answered (each reserves 4x its size)")
	num(&c.MemoryLimitMiB, "memory-limit-mib", "OUTPOST_MEMORY_LIMIT_MIB", 0, "Go soft memory limit in MiB (0: GOMEMLIMIT if set, else 75% of the cgroup's or machine's memory; -1: none)")
	num(&c.GCPercent, "gc-percent", "OUTPOST_GC_PERCENT", 0, "Go GC target percent (0: GOGC if set, else 40; -1: GOGC if set, else Go's 100)")
	num(&c.MaxResultRows, "max-result-rows", "OUTPOST_MAX_RESULT_ROWS", 1_000_000, "most rows (or ids) in one answer of list, evaluate_query and query")
	num(&c.MaxResultMiB, "max-result-mib", "OUTPOST_MAX_RESULT_MIB", 64, "largest answer of list, evaluate_query and query in MiB of JSON (estimated)")
	num(&c.QueryMemoryMiB, "query-memory-mib", "OUTPOST_QUERY_MEMORY_MIB", 64, "working memory one question may use, in MiB")
	num(&c.QueryMemoryPoolMiB, "query-memory-pool-mib", "OUTPOST_QUERY_MEMORY_POOL_MIB", 256, "working memory all questions in progress may use beyond 1 MiB each, in MiB")
	dur(&c.ShutdownTimeout, "shutdown-timeout", "OUTPOST_SHUTDOWN_TIMEOUT", 10*time.Second, "how long graceful shutdown may take")

	c.securityFlags(fs, env, &errs)
	dur(&c.RefreshInterval, "refresh-interval", "OUTPOST_REFRESH_INTERVAL", time.Minute, "oso-api source: time between refreshes of the whole state from the upstream's API")
	dur(&c.RefreshTimeout, "refresh-timeout", "OUTPOST_REFRESH_TIMEOUT", 5*time.Minute, "oso-api source: how long one refresh (every request of it) may take")
	var verifyRate string
	str(&verifyRate, "verify-rate", "OUTPOST_VERIFY_RATE", "0", "questions per minute the node asks itself and its upstream to compare answers (0: off)")
	c.envOf["status-auth"] = "OUTPOST_STATUS_AUTH"
	if v, ok := env("OUTPOST_STATUS_AUTH"); ok {
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err != nil {
			errs = append(errs, fmt.Errorf("OUTPOST_STATUS_AUTH=%q is not true or false", v))
		} else {
			c.StatusAuth, c.envSet["status-auth"] = b, "OUTPOST_STATUS_AUTH"
		}
	}
	fs.BoolVar(&c.StatusAuth, "status-auth", c.StatusAuth, "require an API key (Bearer, or Basic with the key as password) on /status and / (env OUTPOST_STATUS_AUTH)")

	str(&c.Export, "export", "OUTPOST_EXPORT", "", "write the current state to this checkpoint file and exit")
	str(&c.Import, "import", "OUTPOST_IMPORT", "", "start from this checkpoint file when its seq is higher than the local checkpoint's (then catch up from the control plane or bus, if any)")
	str(&c.PolicyFile, "policy", "OUTPOST_POLICY", "", "development: start from this policy file instead of a control plane")
	str(&c.EventsFile, "events", "OUTPOST_EVENTS", "", "development: apply these events (JSON lines) after --policy")

	// Flags registered outside the helpers above (secret and security
	// flags) name their variable in the usage text: record it, so errors
	// about them name their source too.
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := c.envOf[f.Name]; ok {
			return
		}
		if i := strings.LastIndex(f.Usage, "(env "); i >= 0 && strings.HasSuffix(f.Usage, ")") {
			envName := f.Usage[i+len("(env ") : len(f.Usage)-1]
			c.envOf[f.Name] = envName
			if _, ok := env(envName); ok {
				c.envSet[f.Name] = envName
			}
		}
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { delete(c.envSet, f.Name); c.flagSet[f.Name] = true })
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if r, err := strconv.ParseFloat(strings.TrimSpace(verifyRate), 64); err != nil || r < 0 {
		errs = append(errs, fmt.Errorf("--verify-rate %q: want a number of questions per minute, 0 or more", verifyRate))
	} else {
		c.VerifyRate = r
	}
	c.CacheBytes = int64(cacheMiB) << 20
	if cacheMiB == 0 {
		c.CacheBytes = -1
	}
	c.fill()
	errs = append(errs, c.validate()...)
	errs = append(errs, c.validateSecurity(c)...)
	if len(errs) == 0 {
		if err := c.loadSecurity(); err != nil {
			errs = append(errs, err)
		}
	}
	if cacheMiB < 0 {
		errs = append(errs, fmt.Errorf("--cache-mib must not be negative"))
	}
	for i, err := range errs {
		errs[i] = c.sourced(err)
	}
	return c, errors.Join(errs...)
}

// sourced rewrites each "--flag" an error message names to say where the
// value came from: the flag itself when it was given, its environment
// variable when the value came from there ("OSO_PORT 70000 is not a TCP
// port"), and both when neither was set ("needs --nats-url
// (OUTPOST_NATS_URL)"). New flags get this for free.
func (c *config) sourced(err error) error {
	msg := err.Error()
	var b strings.Builder
	for {
		i := strings.Index(msg, "--")
		if i < 0 {
			b.WriteString(msg)
			break
		}
		j := i + 2
		for j < len(msg) && (msg[j] == '-' || msg[j] >= 'a' && msg[j] <= 'z') {
			j++
		}
		name := msg[i+2 : j]
		b.WriteString(msg[:i])
		switch envName, known := c.envOf[name]; {
		case !known:
			b.WriteString(msg[i:j])
		case c.envSet[name] != "":
			b.WriteString(envName)
		case c.flagSet[name]:
			b.WriteString(msg[i:j])
		default:
			b.WriteString(msg[i:j] + " (" + envName + ")")
		}
		msg = msg[j:]
	}
	if b.String() == err.Error() {
		return err
	}
	return errors.New(b.String())
}

// fill derives defaults that depend on other settings.
func (c *config) fill() {
	if c.Listen == "" {
		c.Listen = ":" + strconv.Itoa(c.Port)
	}
	if c.Source == "" {
		c.Source = "none"
		if c.ControlPlaneURL != "" {
			c.Source = "poll"
		}
	}
	if c.KafkaTopic == "" {
		c.KafkaTopic = "outpost." + c.Environment + ".events"
	}
	if c.NATSStream == "" {
		c.NATSStream = "OUTPOST_" + strings.ToUpper(c.Environment)
	}
}

func (c *config) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Port < 1 || c.Port > 65535 {
		bad("--port %d is not a TCP port: use 1 to 65535", c.Port)
	}
	switch c.LogLevel = strings.ToLower(strings.TrimSpace(c.LogLevel)); c.LogLevel {
	case "error", "warn", "info", "debug":
	default:
		bad("--log-level %q: use error, warn, info or debug", c.LogLevel)
	}
	switch c.Source {
	case "poll":
		if c.ControlPlaneURL == "" {
			bad("--source poll needs --control-plane-url")
		}
	case "kafka":
		if c.KafkaBrokers == "" {
			bad("--source kafka needs --kafka-brokers")
		}
	case "nats":
		if c.NATSURL == "" {
			bad("--source nats needs --nats-url")
		}
	case "oso-api":
		if c.ControlPlaneURL == "" {
			bad("--source oso-api needs --control-plane-url (the Oso API's base URL, e.g. https://api.osohq.com)")
		}
		if c.APIToken == "" {
			bad("--source oso-api needs --api-token (OSO_API_TOKEN)")
		}
		if c.RefreshInterval < 10*time.Millisecond || c.RefreshTimeout <= 0 {
			bad("--refresh-interval must be at least 10ms and --refresh-timeout positive")
		}
	case "none":
	default:
		bad("--source %q: use poll, kafka, nats, oso-api or none", c.Source)
	}
	if c.VerifyRate > 0 && c.ControlPlaneURL == "" {
		bad("--verify-rate needs --control-plane-url: the verifier compares the node's answers with the control plane's")
	}
	if c.ControlPlaneURL != "" && c.APIToken == "" {
		bad("--control-plane-url needs an API key: set --api-token")
	}
	if c.ControlPlaneURL != "" {
		if u, err := url.Parse(c.ControlPlaneURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("--control-plane-url %q is not an http(s) URL", c.ControlPlaneURL)
		}
	}
	switch c.Consistency {
	case "wait", "strict":
	default:
		bad("--consistency %q: use wait or strict", c.Consistency)
	}
	switch c.Auth {
	case "tokens", "none":
	default:
		bad("--auth %q: use tokens or none", c.Auth)
	}
	if c.CheckpointKeep < 1 {
		bad("--checkpoint-keep must be at least 1")
	}
	if c.CheckpointInterval < time.Second {
		bad("--checkpoint-interval must be at least 1s")
	}
	if c.PollWait < 0 || c.ConsistencyWait < 0 || c.ShutdownTimeout <= 0 {
		bad("durations must not be negative, and --shutdown-timeout must be positive")
	}
	if c.MaxSteps < 0 {
		bad("--max-steps must not be negative")
	}
	if c.MaxContextFacts < 0 || c.MaxContextBytes < 0 {
		bad("--max-context-facts and --max-context-bytes must not be negative")
	}
	if c.RequestMemoryMiB < 1 {
		bad("--request-memory-mib must be at least 1")
	}
	if c.MemoryLimitMiB < -1 {
		bad("--memory-limit-mib must be -1 (none), 0 (default) or a size in MiB")
	}
	if c.GCPercent < -1 {
		bad("--gc-percent must be -1 (Go's default), 0 (default) or a percentage")
	}
	if c.MaxResultRows < 1 || c.MaxResultMiB < 1 || c.QueryMemoryMiB < 1 || c.QueryMemoryPoolMiB < 1 {
		bad("--max-result-rows, --max-result-mib, --query-memory-mib and --query-memory-pool-mib must be at least 1")
	}
	if c.Export != "" && c.Import != "" {
		bad("--export and --import cannot be combined")
	}
	if c.EventsFile != "" && c.PolicyFile == "" {
		bad("--events needs --policy")
	}
	if c.Environment == "" {
		bad("--environment must not be empty")
	}
	return errs
}

// osEnv is the real environment.
func osEnv(name string) (string, bool) { return os.LookupEnv(name) }
