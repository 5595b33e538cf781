package alert

import (
	"context"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sesguard/sesguard/internal/envvar"
)

// Environment variables naming where alerts go, read by both functions
// (LoadDestinations).
const (
	EnvAlertsTopicARN     = "ALERTS_TOPIC_ARN"
	EnvSlackWebhookSecret = "SLACK_WEBHOOK_SECRET" // Secrets Manager secret name or ARN
)

// Destinations says where a function's alerts go; an empty field means
// none of that kind.
type Destinations struct {
	// TopicARN is the SNS topic receiving every alert.
	TopicARN string
	// SlackWebhookSecret names the Secrets Manager secret holding the Slack
	// webhook URL (see LoadWebhookURL).
	SlackWebhookSecret string
}

// LoadDestinations reads Destinations from getenv. It returns every bad
// variable (envvar's format), and never repeats a webhook URL put where
// the secret's name belongs.
func LoadDestinations(getenv func(string) string) (Destinations, []error) {
	d := Destinations{
		TopicARN:           strings.TrimSpace(getenv(EnvAlertsTopicARN)),
		SlackWebhookSecret: strings.TrimSpace(getenv(EnvSlackWebhookSecret)),
	}
	var errs []error
	if d.TopicARN != "" && !strings.HasPrefix(d.TopicARN, "arn:") {
		errs = append(errs, envvar.Bad(EnvAlertsTopicARN, d.TopicARN, "want an SNS topic ARN"))
	}
	if strings.Contains(d.SlackWebhookSecret, "://") {
		errs = append(errs, envvar.BadHidden(EnvSlackWebhookSecret, "give the name or ARN of the secret holding the webhook URL, not the URL"))
	}
	return d, errs
}

// NewSinks assembles the sinks of d for a function at cold start: an
// SNSSink for the topic and a SecretSlackSink for Slack (its URL loaded in
// the background; a secret that cannot be read turns Slack off while
// alerts still reach the topic). With no destination it logs that alerts
// are only logged and returns an empty Fanout (see Fanout.Sink).
func NewSinks(ctx context.Context, d Destinations, awsCfg aws.Config, log *slog.Logger) (Fanout, error) {
	if log == nil {
		log = slog.Default()
	}
	var sinks Fanout
	if d.TopicARN != "" {
		s, err := NewSNSSink(sns.NewFromConfig(awsCfg), d.TopicARN)
		if err != nil {
			return nil, envvar.Bad(EnvAlertsTopicARN, d.TopicARN, err.Error())
		}
		sinks = append(sinks, s)
	}
	if d.SlackWebhookSecret != "" {
		sinks = append(sinks, NewSecretSlackSink(d.SlackWebhookSecret, secretsmanager.NewFromConfig(awsCfg), log))
	}
	if len(sinks) == 0 {
		log.WarnContext(ctx, "no alert sink configured: alerts are only logged", "variables", []string{EnvAlertsTopicARN, EnvSlackWebhookSecret})
	}
	return sinks, nil
}
