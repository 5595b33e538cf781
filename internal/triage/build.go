package triage

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/awsconfig"
	"github.com/sesguard/sesguard/internal/dryrun"
	"github.com/sesguard/sesguard/internal/envvar"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// Build wires a Handler for the Lambda at cold start: the rule set (with the
// operator's extra rules file), SES v2 clients for facts and suppression,
// the alert sinks (SNS topic and, when configured, Slack, behind a storm
// aggregator) and the CloudWatch publisher. awsCfg comes from
// awsconfig.Load; its Region is the function's own.
//
// The Slack webhook URL is read from Secrets Manager in the background from
// cold start on; one that cannot be loaded is logged (without the URL) and
// Slack is off: alerts still reach the SNS topic, and failing every cold
// start would stop triage altogether.
func Build(ctx context.Context, cfg Config, awsCfg aws.Config, log *slog.Logger) (*Handler, error) {
	if log == nil {
		log = slog.Default()
	}
	rules := ruleset.Default()
	if cfg.ExtraRules != nil {
		var err error
		if rules, err = ruleset.New(*cfg.ExtraRules); err != nil {
			return nil, envvar.Bad(EnvExtraRulesFile, cfg.ExtraRules.Name, err.Error())
		}
	}
	if cfg.DryRun {
		return buildDryRun(cfg, rules, awsCfg.Region, log)
	}
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	fc := facts.Config{
		Clients:          facts.NewSESv2Factory(awsCfg),
		CandidateRegions: cfg.CandidateRegions,
		TTL:              cfg.FactsTTL,
		MaxCalls:         cfg.FactsMaxCalls,
		Logger:           log,
		Now:              now,
	}
	sinks, err := alert.NewSinks(ctx, cfg.Alerts, awsCfg, log)
	if err != nil {
		return nil, err
	}
	d := Deps{
		Rules:       rules,
		Suppressors: newSuppressors(awsCfg),
		Metrics:     metrics.NewPublisher(awsconfig.NewCloudWatch(awsCfg), cfg.Namespace),
		Region:      awsCfg.Region,
		Log:         log,
		Now:         now,
		Sinks:       sinks,
	}
	if cfg.StateTable != "" {
		// Shared across execution environments: record idempotency,
		// storm windows, account facts. Suppressed addresses stay in this
		// environment's memory: a record is acted on once across
		// environments already, and the same address in two records costs
		// one idempotent call per environment at most, where a shared
		// memory would cost two table writes per record.
		st, err := state.New(state.Options{DB: dynamodb.NewFromConfig(awsCfg), Table: cfg.StateTable, Log: log})
		if err != nil {
			return nil, envvar.Bad(EnvStateTable, cfg.StateTable, err.Error())
		}
		d.Records, d.Windows = st, st.AlertWindows()
		fc.Shared = st
	}
	d.Facts = facts.NewGatherer(fc)
	return New(cfg, d)
}

// buildDryRun wires a Handler that changes nothing outside its process
// (DRY_RUN): no account facts (the diagnosis is made without them), and
// alerts, suppressions and metrics written to the log as what would have
// been sent. The storm aggregator stays, so the log shows what an operator
// would really have received.
func buildDryRun(cfg Config, rules *ruleset.Set, region string, log *slog.Logger) (*Handler, error) {
	target := "no destination"
	if d := cfg.Alerts; d.TopicARN != "" || d.SlackWebhookSecret != "" {
		target = strings.TrimSpace(strings.Join([]string{d.TopicARN, slackTarget(d.SlackWebhookSecret)}, " "))
	}
	log.Info("dry run: alerts, suppressions and metrics are logged, not sent; account facts are not gathered", "variable", dryrun.EnvDryRun)
	ses := dryrun.SES{Log: log}
	return New(cfg, Deps{
		Rules:       rules,
		Suppressors: func(string) Suppressor { return ses },
		Metrics:     metrics.NewPublisher(dryrun.CloudWatch{Log: log}, cfg.Namespace),
		Region:      region,
		Log:         log,
		Sinks:       alert.Fanout{dryrun.Sink(log, target)},
	})
}

func slackTarget(secret string) string {
	if secret == "" {
		return ""
	}
	return "Slack (webhook in secret " + secret + ")"
}

// newSuppressors returns one cached SES v2 client per Region.
func newSuppressors(cfg aws.Config) func(region string) Suppressor {
	clients := facts.SESv2Clients(cfg)
	return func(region string) Suppressor { return clients(region) }
}
