package triage

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/dryrun"
	"github.com/sesguard/sesguard/internal/envvar"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// Environment variables the triage function reads (LoadConfig). Lambda's
// reserved variables (AWS_REGION, ...) are read by the SDK, not here.
// The alert destinations' variables are alert.EnvAlertsTopicARN and
// alert.EnvSlackWebhookSecret, shared with bouncewatch.
const (
	EnvCandidateRegions = "CANDIDATE_REGIONS"
	EnvFactsTTL         = "FACTS_TTL"
	EnvFactsMaxCalls    = "FACTS_MAX_CALLS"
	EnvSuppressMode     = "SUPPRESS_MODE"
	EnvAlertWindow      = "ALERT_WINDOW"
	EnvExtraRulesFile   = "EXTRA_RULES_FILE"
	EnvConcurrency      = "TRIAGE_CONCURRENCY"
	EnvStateTable       = state.EnvTable
)

// EnvVars lists every environment variable the function reads; a template
// test compares it with template.yaml.
var EnvVars = []string{
	alert.EnvAlertsTopicARN,
	alert.EnvSlackWebhookSecret,
	EnvCandidateRegions,
	EnvFactsTTL,
	EnvFactsMaxCalls,
	EnvSuppressMode,
	EnvAlertWindow,
	metrics.EnvNamespace,
	EnvExtraRulesFile,
	EnvConcurrency,
	dryrun.EnvDryRun,
	EnvStateTable,
}

// IAMActions lists every AWS action the function calls; a template test
// compares it with the function's policy.
var IAMActions = slices.Concat(facts.IAMActions, []string{
	"ses:PutSuppressedDestination",
	"sns:Publish",
	"cloudwatch:PutMetricData",
	"secretsmanager:GetSecretValue",
}, state.IAMActions)

// SuppressMode says when triage adds a recipient to the account-level
// suppression list.
type SuppressMode string

const (
	// SuppressOff never calls PutSuppressedDestination.
	SuppressOff SuppressMode = "off"
	// SuppressAuto suppresses only where GetAccount says the account's own
	// suppression for that reason is off (SES then does not do it itself);
	// unknown facts mean no call.
	SuppressAuto SuppressMode = "auto"
	// SuppressAlways suppresses every hard bounce and complaint the rules
	// mark, whatever the account's settings (still never in a Region known
	// to be in the sandbox, where SES refuses the call).
	SuppressAlways SuppressMode = "always"
)

// AllSuppressModes lists every SuppressMode.
var AllSuppressModes = []SuppressMode{SuppressOff, SuppressAuto, SuppressAlways}

// Defaults for unset variables.
const (
	DefaultSuppressMode = SuppressAuto
	DefaultConcurrency  = 8
)

// Config is the function's configuration, read once at cold start.
type Config struct {
	// Alerts says where warning and critical diagnoses go; none means
	// alerts are only logged.
	Alerts alert.Destinations
	// CandidateRegions are asked about identities besides the sending
	// Region. nil means facts.DefaultCandidateRegions; empty (the value
	// "none") means the sending Region only.
	CandidateRegions []string
	FactsTTL         time.Duration // 0: facts.DefaultTTL
	FactsMaxCalls    int           // 0: facts.DefaultMaxCalls
	SuppressMode     SuppressMode
	AlertWindow      time.Duration // 0: alert.DefaultWindow
	Namespace        string
	// ExtraRules is the operator's rules file, loaded at cold start.
	ExtraRules *ruleset.RuleFile
	// Concurrency bounds the records of one batch processed at once.
	Concurrency int
	// DryRun logs alerts, suppressions and metrics instead of sending
	// them and gathers no account facts (local invocations).
	DryRun bool
	// StateTable is the DynamoDB table shared by every execution
	// environment (package state); empty: each environment's own memory.
	StateTable string
	// Clock is the time every decision uses (windows, claims, facts);
	// time.Now when nil. Not from the environment: tests and simulations
	// set it.
	Clock func() time.Time
}

// LoadConfig reads the configuration from getenv (os.Getenv in the
// function). Errors name the variable at fault.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		SuppressMode: DefaultSuppressMode,
		Concurrency:  DefaultConcurrency,
		StateTable:   strings.TrimSpace(getenv(EnvStateTable)),
	}
	var errs []error
	c.Alerts, errs = alert.LoadDestinations(getenv)
	if v := strings.TrimSpace(getenv(EnvCandidateRegions)); v != "" {
		c.CandidateRegions = []string{}
		if !strings.EqualFold(v, "none") {
			for _, r := range strings.Split(v, ",") {
				r = ruleset.NormaliseRegion(r)
				if r == "" {
					continue
				}
				if !validRegion(r) {
					errs = append(errs, envvar.Bad(EnvCandidateRegions, v, fmt.Sprintf("%q is not a Region name", r)))
					continue
				}
				c.CandidateRegions = append(c.CandidateRegions, r)
			}
		}
	}
	var err error
	if c.DryRun, err = dryrun.Enabled(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.FactsTTL, err = duration(getenv, EnvFactsTTL); err != nil {
		errs = append(errs, err)
	}
	if c.AlertWindow, err = duration(getenv, EnvAlertWindow); err != nil {
		errs = append(errs, err)
	}
	if c.FactsMaxCalls, err = integer(getenv, EnvFactsMaxCalls, 0); err != nil {
		errs = append(errs, err)
	}
	if c.Concurrency, err = integer(getenv, EnvConcurrency, DefaultConcurrency); err != nil {
		errs = append(errs, err)
	} else if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if v := strings.ToLower(strings.TrimSpace(getenv(EnvSuppressMode))); v != "" {
		c.SuppressMode = SuppressMode(v)
		if !validMode(c.SuppressMode) {
			errs = append(errs, envvar.Bad(EnvSuppressMode, v, "want off, auto or always"))
		}
	}
	if c.Namespace, err = metrics.Namespace(getenv); err != nil {
		errs = append(errs, err)
	}
	if path := strings.TrimSpace(getenv(EnvExtraRulesFile)); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, envvar.Bad(EnvExtraRulesFile, path, err.Error()))
		} else {
			c.ExtraRules = &ruleset.RuleFile{Name: path, Data: data}
		}
	}
	return c, errors.Join(errs...)
}

func duration(getenv func(string) string, name string) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, envvar.Bad(name, v, "want a positive duration such as 5m or 90s")
	}
	return d, nil
}

func integer(getenv func(string) string, name string, def int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, envvar.Bad(name, v, "want a whole number >= 0")
	}
	return n, nil
}

func validMode(m SuppressMode) bool {
	for _, x := range AllSuppressModes {
		if m == x {
			return true
		}
	}
	return false
}

// validRegion accepts names shaped like AWS Regions ("us-east-1",
// "ap-southeast-3", "us-gov-west-1") without a fixed list, so new Regions
// need no release.
func validRegion(r string) bool {
	parts := strings.Split(r, "-")
	if len(parts) < 3 {
		return false
	}
	if _, err := strconv.Atoi(parts[len(parts)-1]); err != nil {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	return true
}
