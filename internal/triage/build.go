package triage

import (
	"context"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/awsconfig"
	"github.com/sesguard/sesguard/internal/dryrun"
	"github.com/sesguard/sesguard/internal/envvar"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/internal/metrics"
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
	g := facts.NewGatherer(facts.Config{
		Clients:          facts.NewSESv2Factory(awsCfg),
		CandidateRegions: cfg.CandidateRegions,
		TTL:              cfg.FactsTTL,
		MaxCalls:         cfg.FactsMaxCalls,
		Logger:           log,
	})

	sinks, err := alert.NewSinks(ctx, cfg.Alerts, awsCfg, log)
	if err != nil {
		return nil, err
	}
	return New(cfg, Deps{
		Rules:       rules,
		Facts:       g,
		Suppressors: newSuppressors(awsCfg),
		Metrics:     metrics.NewPublisher(awsconfig.NewCloudWatch(awsCfg), cfg.Namespace),
		Region:      awsCfg.Region,
		Log:         log,
		Sinks:       sinks,
	})
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
