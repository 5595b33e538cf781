package triage

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sesguard/sesguard/internal/alert"
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
			return nil, fmt.Errorf("%s: %w", EnvExtraRulesFile, err)
		}
	}
	g := facts.NewGatherer(facts.Config{
		Clients:          facts.NewSESv2Factory(awsCfg),
		CandidateRegions: cfg.CandidateRegions,
		TTL:              cfg.FactsTTL,
		MaxCalls:         cfg.FactsMaxCalls,
		Logger:           log,
	})

	var sinks alert.Fanout
	if cfg.AlertsTopicARN != "" {
		s, err := alert.NewSNSSink(sns.NewFromConfig(awsCfg), cfg.AlertsTopicARN)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvAlertsTopicARN, err)
		}
		sinks = append(sinks, s)
	}
	if cfg.SlackWebhookSecret != "" {
		// Loaded in the background from cold start on; see SecretSlackSink.
		sinks = append(sinks, alert.NewSecretSlackSink(cfg.SlackWebhookSecret, secretsmanager.NewFromConfig(awsCfg), log))
	}
	if len(sinks) == 0 {
		log.WarnContext(ctx, "no alert sink configured: alerts are only logged", "variable", EnvAlertsTopicARN)
	}
	return NewWith(cfg, Deps{
		Rules:       rules,
		Facts:       g,
		Suppressors: newSuppressors(awsCfg),
		Metrics:     metrics.NewPublisher(cloudwatch.NewFromConfig(awsCfg), cfg.Namespace),
		Region:      awsCfg.Region,
		Log:         log,
	}, sinks)
}

// NewWith is New with the alert sinks put behind a storm aggregator
// (Config.AlertWindow, windows kept in Deps.Windows); no sinks means alerts
// are only logged.
func NewWith(cfg Config, d Deps, sinks alert.Fanout) (*Handler, error) {
	if len(sinks) > 0 {
		var next alert.Sink = sinks
		if len(sinks) == 1 {
			next = sinks[0]
		}
		d.Alerts = alert.NewAggregator(next, alert.AggregatorOptions{Window: cfg.AlertWindow, Now: d.Now, Store: d.Windows})
	}
	return New(cfg, d)
}

// newSuppressors returns one cached SES v2 client per Region.
func newSuppressors(cfg aws.Config) func(region string) Suppressor {
	clients := facts.SESv2Clients(cfg)
	return func(region string) Suppressor { return clients(region) }
}
