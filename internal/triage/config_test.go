package triage

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/facts"
)

func env(m map[string]string) func(string) string {
	return func(k string) string {
		if !slices.Contains(EnvVars, k) {
			panic("LoadConfig read " + k + ", which is not in EnvVars")
		}
		return m[k]
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{SuppressMode: SuppressAuto, Namespace: "SESGuard", Concurrency: DefaultConcurrency}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadConfig() = %+v, want %+v", c, want)
	}
}

func TestLoadConfig(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "extra.yaml")
	if err := os.WriteFile(rules, []byte("rules: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(env(map[string]string{
		alert.EnvAlertsTopicARN:     "arn:aws:sns:us-east-1:123456789012:alerts",
		alert.EnvSlackWebhookSecret: "ssm:/sesguard/slack",
		EnvCandidateRegions:         " US-West-2, eu-west-1 ,",
		EnvFactsTTL:                 "90s",
		EnvFactsMaxCalls:            "20",
		EnvSuppressMode:             "Always",
		EnvAlertWindow:              "5m",
		"METRICS_NAMESPACE":         "Mail",
		EnvExtraRulesFile:           rules,
		EnvConcurrency:              "2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.TopicARN == "" || c.Alerts.SlackWebhookSecret != "ssm:/sesguard/slack" || !slices.Equal(c.CandidateRegions, []string{"us-west-2", "eu-west-1"}) ||
		c.FactsTTL != 90*time.Second || c.FactsMaxCalls != 20 || c.SuppressMode != SuppressAlways || c.AlertWindow != 5*time.Minute ||
		c.Namespace != "Mail" || c.ExtraRules == nil || c.ExtraRules.Name != rules || c.Concurrency != 2 {
		t.Errorf("LoadConfig = %+v", c)
	}

	none, err := LoadConfig(env(map[string]string{EnvCandidateRegions: "none"}))
	if err != nil || none.CandidateRegions == nil || len(none.CandidateRegions) != 0 {
		t.Errorf("CANDIDATE_REGIONS=none: %#v, %v; want an empty non-nil list", none.CandidateRegions, err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name, value string
	}{
		{alert.EnvAlertsTopicARN, "alerts"},
		{alert.EnvSlackWebhookSecret, "https://hooks.slack.com/services/T/B/tok3nXYZ"},
		{EnvCandidateRegions, "us-east-1,mars"},
		{EnvFactsTTL, "5"},
		{EnvFactsTTL, "-1m"},
		{EnvFactsMaxCalls, "many"},
		{EnvSuppressMode, "sometimes"},
		{EnvAlertWindow, "soon"},
		{"METRICS_NAMESPACE", "AWS/SES"},
		{EnvExtraRulesFile, "/nonexistent/rules.yaml"},
		{EnvConcurrency, "-3"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := LoadConfig(env(map[string]string{tc.name: tc.value}))
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tc.name) {
				t.Errorf("error %q does not name %s", err, tc.name)
			}
			if strings.Contains(err.Error(), "tok3nXYZ") {
				t.Errorf("error %q echoes the webhook URL", err)
			}
		})
	}
}

func TestIAMActions(t *testing.T) {
	for _, a := range facts.IAMActions {
		if !slices.Contains(IAMActions, a) {
			t.Errorf("IAMActions lacks %s, which internal/facts calls", a)
		}
	}
	for _, a := range []string{"ses:PutSuppressedDestination", "sns:Publish", "cloudwatch:PutMetricData", "secretsmanager:GetSecretValue"} {
		if !slices.Contains(IAMActions, a) {
			t.Errorf("IAMActions lacks %s", a)
		}
	}
}
