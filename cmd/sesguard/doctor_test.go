package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/doctor"
	"github.com/sesguard/sesguard/internal/localstack"
	"github.com/sesguard/sesguard/internal/metrics"
)

func TestDoctorUsage(t *testing.T) {
	for _, args := range [][]string{
		{"doctor", "extra"},
		{"doctor", "--region", "us-east-1", "--all-regions"},
		{"doctor", "--probe"},
		{"doctor", "--probe", "--yes"},
		{"doctor", "--probe", "--yes", "--stack", "s", "--identity", "a@b.c", "--region", "us-east-1,us-west-2"},
		{"doctor", "--yes"},
		{"doctor", "--no-such-flag"},
	} {
		if code, _, errs := runCLI(t, "", args...); code != exitUsage || errs == "" {
			t.Errorf("%v: exit %d, stderr %q; want %d and a message", args, code, errs, exitUsage)
		}
	}
}

func TestDoctorListAndPolicy(t *testing.T) {
	code, out, _ := runCLI(t, "", "doctor", "--list-checks")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != exitOK || len(lines) != len(doctor.Checks) || len(lines) < 20 {
		t.Errorf("--list-checks: exit %d, %d lines", code, len(lines))
	}
	code, out, _ = runCLI(t, "", "doctor", "--print-policy")
	var doc struct{ Statement []struct{ Action []string } }
	if err := json.Unmarshal([]byte(out), &doc); code != exitOK || err != nil || !slices.Equal(doc.Statement[0].Action, doctor.IAMActions()) {
		t.Errorf("--print-policy: exit %d, %v: %s", code, err, out)
	}
}

// TestDoctorAgainstLocalStack runs the command on the local stack's
// wiring: exit 0 and one JSON document when correct, 1 when mis-wired.
func TestDoctorAgainstLocalStack(t *testing.T) {
	ctx := context.Background()
	_, w := wireLocalForDoctor(t)

	code, out, errs := runCLI(t, "", "doctor", "--stack", localstack.DoctorStackName, "--json")
	var rep doctor.Report
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("not one JSON document (%v): %s", err, out)
	}
	if code != exitOK || rep.Counts[doctor.Fail] != 0 || rep.Counts[doctor.Pass] < 30 {
		t.Errorf("correct stack: exit %d, counts %v, stderr %s", code, rep.Counts, errs)
	}
	m, _ := localstack.LookupMiswire("sandbox")
	if err := w.Apply(ctx, &m); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "", "doctor", "--stack", localstack.DoctorStackName)
	if code != exitInvalid || !strings.Contains(out, "FAIL doctor.account.production-access") {
		t.Errorf("sandbox: exit %d:\n%s", code, out)
	}
}

// TestDoctorNothingChecked: without credentials every call fails and every
// check is skipped; that is not a clean bill of health.
func TestDoctorNothingChecked(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	orig := doctorAWS
	defer func() { doctorAWS = orig }()
	doctorAWS = func(ctx context.Context) (doctor.ClientsFor, string, error) {
		cl, _, err := orig(ctx)
		return cl, "us-east-1", err
	}
	code, out, errs := runCLI(t, "", "doctor", "--region", "us-east-1", "--identity", "a@example.invalid")
	if code != exitInvalid || !strings.Contains(errs, "nothing could be checked") || strings.Contains(out, "ok   ") {
		t.Errorf("exit %d, stderr %q:\n%s", code, errs, out)
	}
}

func TestLocalMiswire(t *testing.T) {
	code, out, _ := runCLI(t, "", "local", "--miswire", "list")
	if code != exitOK || strings.Count(out, "\n") != len(localstack.Miswires) {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	if code, _, errs := runCLI(t, "", "local", "--miswire", "no-such"); code != exitUsage || !strings.Contains(errs, "no-event-destination") {
		t.Errorf("unknown: exit %d, %s", code, errs)
	}
	code, out, errs := runCLI(t, "", "local", "--miswire", "all")
	if code != exitOK || strings.Count(out, ": OK\n") != len(localstack.Miswires)+1 {
		t.Errorf("all: exit %d, stderr %s:\n%s", code, errs, out)
	}
}

// TestDoctorProbe runs --probe --yes on the local stack's wiring. The
// sender stands in for SES and triage together: it counts the simulator
// bounce in kumo's CloudWatch as triage would, so the probe's send, its
// metric reads and the report are what is tested, not the pipeline (the
// local stack's replay tests cover triage).
func TestDoctorProbe(t *testing.T) {
	ctx := context.Background()
	st, w := wireLocalForDoctor(t)
	origSender, origTiming := doctorSender, probeTiming
	defer func() { doctorSender, probeTiming = origSender, origTiming }()
	probeTiming = doctor.ProbeOptions{Timeout: 5 * time.Second, Poll: 10 * time.Millisecond}
	var sent []*sesv2.SendEmailInput
	doctorSender = func(context.Context, string) (doctor.Sender, error) {
		return probeSender(func(ctx context.Context, in *sesv2.SendEmailInput) error {
			sent = append(sent, in)
			_, err := st.CW.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(st.Params["MetricsNamespace"]),
				MetricData: []cwtypes.MetricDatum{{MetricName: aws.String(string(metrics.Failures)), Value: aws.Float64(1), Dimensions: []cwtypes.Dimension{
					{Name: aws.String(string(metrics.DimRule)), Value: aws.String(doctor.ProbeRule)},
					{Name: aws.String(string(metrics.DimRegion)), Value: aws.String(w.Region)}}}}})
			return err
		}), nil
	}
	code, out, errs := runCLI(t, "", "doctor", "--stack", localstack.DoctorStackName, "--identity", localstack.DoctorDomain, "--probe", "--yes")
	if code != exitOK || len(sent) != 1 || !strings.Contains(out, "ok   "+doctor.ProbeCheckID) {
		t.Fatalf("probe: exit %d, %d sent, stderr %s:\n%s", code, len(sent), errs, out)
	}
	if to := sent[0].Destination.ToAddresses; len(to) != 1 || to[0] != doctor.ProbeRecipient || aws.ToString(sent[0].ConfigurationSetName) != "sesguard" {
		t.Errorf("sent %+v", sent[0])
	}
	// A mis-wired stack is not probed: nothing is sent.
	m, _ := localstack.LookupMiswire("no-event-destination")
	if err := w.Apply(ctx, &m); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "", "doctor", "--stack", localstack.DoctorStackName, "--identity", localstack.DoctorDomain, "--probe", "--yes")
	if code != exitInvalid || len(sent) != 1 || !strings.Contains(out, "skip "+doctor.ProbeCheckID) {
		t.Errorf("mis-wired: exit %d, %d sent:\n%s", code, len(sent), out)
	}
}

type probeSender func(context.Context, *sesv2.SendEmailInput) error

func (f probeSender) SendEmail(ctx context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	if err := f(ctx, in); err != nil {
		return nil, err
	}
	return &sesv2.SendEmailOutput{MessageId: aws.String("local-probe")}, nil
}

// wireLocalForDoctor starts a wiring-only local stack from template.yaml
// (closed when the test ends), wires it for doctor, and points the doctor command's AWS clients
// at it for the test.
func wireLocalForDoctor(t *testing.T) (*localstack.Stack, *localstack.DoctorWiring) {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st, w, err := localstack.UpForDoctor(context.Background(), tmpl)
	if st != nil {
		t.Cleanup(st.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	orig := doctorAWS
	t.Cleanup(func() { doctorAWS = orig })
	doctorAWS = func(context.Context) (doctor.ClientsFor, string, error) { return w.Clients(), w.Region, nil }
	return st, w
}
