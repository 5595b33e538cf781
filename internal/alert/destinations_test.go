package alert

import (
	"context"
	"strings"
	"testing"
)

func TestLoadDestinations(t *testing.T) {
	env := map[string]string{EnvAlertsTopicARN: " arn:aws:sns:us-east-1:123456789012:alerts ", EnvSlackWebhookSecret: "sesguard/slack"}
	d, errs := LoadDestinations(func(k string) string { return env[k] })
	if len(errs) != 0 || d.TopicARN != "arn:aws:sns:us-east-1:123456789012:alerts" || d.SlackWebhookSecret != "sesguard/slack" {
		t.Fatalf("LoadDestinations = %+v, %v", d, errs)
	}
	env = map[string]string{EnvAlertsTopicARN: "AlertsTopic", EnvSlackWebhookSecret: "https://hooks.slack.com/services/T/B/tok3nXYZ"}
	_, errs = LoadDestinations(func(k string) string { return env[k] })
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), EnvAlertsTopicARN) || !strings.Contains(errs[1].Error(), EnvSlackWebhookSecret) {
		t.Fatalf("errors = %v, want one per variable", errs)
	}
	if strings.Contains(errs[1].Error(), "tok3nXYZ") {
		t.Errorf("error %q repeats the webhook URL", errs[1])
	}
}

func TestFanoutSink(t *testing.T) {
	r := &recorder{}
	if (Fanout{}).Sink() != nil || (Fanout{r}).Sink() != Sink(r) {
		t.Fatal("an empty Fanout is no sink, and one sink is itself")
	}
	two := Fanout{r, r}
	if err := two.Sink().Send(context.Background(), rateAlert()); err != nil || len(r.sent) != 2 {
		t.Fatalf("two sinks: %v, %d sent", err, len(r.sent))
	}
}
