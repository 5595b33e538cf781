package bouncewatch

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/kumocw"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/testkit"
)

// TestKumoEndToEnd counts a batch into kumo's CloudWatch, evaluates it (the
// counts and the previous AlertLevel read back with GetMetricData), and
// publishes the alert to a kumo SNS topic whose SQS subscription we read.
// A second evaluation reads the announced level back and stays quiet.
func TestKumoEndToEnd(t *testing.T) {
	srv := kumo.NewServer()
	defer srv.Close()
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	// Counts carry the events' timestamps, which kumo reads only through
	// kumocw.
	front, err := kumocw.Handler(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	cwSrv := httptest.NewServer(front)
	defer cwSrv.Close()
	cw := cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(cwSrv.URL), Credentials: creds})
	snsc := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds})
	// kumo's registry is process-wide and outlives srv: the topic, its queue
	// (NewTap passes the name through testkit.Unique) and the namespace
	// must be new to every run of the test, or -count=3 reads old data.
	tap := testkit.NewTap(t, testkit.ConfigFor(srv.URL), "bouncewatch-alerts")
	sink, err := alert.NewSNSSink(snsc, tap.TopicARN)
	if err != nil {
		t.Fatal(err)
	}

	cfg := testConfig()
	cfg.Namespace = testkit.Unique("SESGuardKumo")
	cfg.Window = time.Hour
	cfg.Rates.MinSends = 100
	h := mustNew(t, cfg, Deps{CloudWatch: cw, Account: healthyAccount(), Alerts: sink, Log: quiet}) // GetAccount faked: kumo lacks it
	// 1,000 sends, 30 hard bounces: 3%, a warning.
	res, err := h.Handle(ctx, scenarioBatch(0, 1000, 30))
	if err != nil || res == nil {
		t.Fatalf("count batch: %v", err)
	}
	rep, err := h.Evaluate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acct := rep.Scopes[0]
	if acct.Counts[cSends] != 1000 || acct.Counts[cHardBounces] != 30 {
		t.Fatalf("read back sends=%d hard=%d, want 1000 and 30", acct.Counts[cSends], acct.Counts[cHardBounces])
	}
	if len(rep.Alerts) != 1 || rep.Alerts[0].Level != alert.LevelWarning {
		t.Fatalf("alerts = %+v, want one warning", rep.Alerts)
	}
	bodies := tap.Drain(t)
	if len(bodies) != 1 {
		t.Fatalf("%d messages on the alert queue, want 1", len(bodies))
	}
	var env struct{ Subject, Message string }
	if err := json.Unmarshal([]byte(bodies[0]), &env); err != nil {
		t.Fatal(err)
	}
	var got alert.Alert
	if err := json.Unmarshal([]byte(env.Message), &got); err != nil {
		t.Fatalf("alert body is not JSON: %v\n%s", err, env.Message)
	}
	if got.Kind != alert.KindRate || got.Level != alert.LevelWarning || got.Scope != "account" || !strings.HasPrefix(env.Subject, "[warning] Bounce rate 3.00%") {
		t.Fatalf("alert = %+v, subject %q", got, env.Subject)
	}

	// The announced level is read back from kumo: no second alert.
	rep, err = h.Evaluate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Alerts) != 0 || rep.Scopes[0].PrevBounce.String() != "warning" {
		t.Fatalf("second run: prev %s, alerts %+v", rep.Scopes[0].PrevBounce, rep.Alerts)
	}
}

// kumoConfigSets reads configuration sets from kumo over the real wire
// protocol; kumo has no PutConfigurationSetSendingOptions, so the pause
// call is faked here and recorded.
type kumoConfigSets struct {
	*sesv2.Client
	paused []string
}

func (k *kumoConfigSets) PutConfigurationSetSendingOptions(_ context.Context, in *sesv2.PutConfigurationSetSendingOptionsInput, _ ...func(*sesv2.Options)) (*sesv2.PutConfigurationSetSendingOptionsOutput, error) {
	k.paused = append(k.paused, aws.ToString(in.ConfigurationSetName))
	return &sesv2.PutConfigurationSetSendingOptionsOutput{}, nil
}

// TestKumoConfigurationSetWatch: the watch reads a configuration set whose
// sending was disabled (created so in kumo) with GetConfigurationSet and
// announces it once; one that sends normally is not announced.
func TestKumoConfigurationSetWatch(t *testing.T) {
	srv := kumo.NewServer()
	defer srv.Close()
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	ses := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: creds})
	off, on := testkit.Unique("paused"), testkit.Unique("sending")
	for name, enabled := range map[string]bool{off: false, on: true} {
		if _, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(name),
			SendingOptions: &sesv2types.SendingOptions{SendingEnabled: enabled}}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	cw := newMemCloudWatch(func() time.Time { return now })
	cfg := testConfig()
	cfg.Scopes = []Scope{{metrics.ScopeConfigurationSet, off}, {metrics.ScopeConfigurationSet, on}}
	var sent []alert.Alert
	sink := alert.SinkFunc(func(_ context.Context, a alert.Alert) error { sent = append(sent, a); return nil })
	h := mustNew(t, cfg, Deps{CloudWatch: cw, Account: healthyAccount(), ConfigSets: &kumoConfigSets{Client: ses}, Alerts: sink, Log: quiet})
	h.now = func() time.Time { return now }
	for range 2 {
		rep, err := h.Evaluate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if en, ok := rep.ConfigSetSending[off]; !ok || en {
			t.Fatalf("sending flags read from kumo: %v", rep.ConfigSetSending)
		}
	}
	if len(sent) != 1 || sent[0].Kind != alert.KindEnforcement || sent[0].Scope != "configuration-set:"+off {
		t.Fatalf("alerts = %+v, want one for %s", sent, off)
	}
}
