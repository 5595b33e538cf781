package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// fakeResumeSES fakes SES at resume's interface (kumo lacks GetAccount
// and PutConfigurationSetSendingOptions).
type fakeResumeSES struct {
	enabled bool
	status  string
	putErr  error
	puts    []bool
}

func (f *fakeResumeSES) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return &sesv2.GetAccountOutput{EnforcementStatus: aws.String(f.status), SendingEnabled: true}, nil
}

func (f *fakeResumeSES) GetConfigurationSet(_ context.Context, in *sesv2.GetConfigurationSetInput, _ ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error) {
	return &sesv2.GetConfigurationSetOutput{ConfigurationSetName: in.ConfigurationSetName, SendingOptions: &types.SendingOptions{SendingEnabled: f.enabled}}, nil
}

func (f *fakeResumeSES) PutConfigurationSetSendingOptions(_ context.Context, in *sesv2.PutConfigurationSetSendingOptionsInput, _ ...func(*sesv2.Options)) (*sesv2.PutConfigurationSetSendingOptionsOutput, error) {
	f.puts = append(f.puts, in.SendingEnabled)
	if f.putErr != nil {
		return nil, f.putErr
	}
	f.enabled = in.SendingEnabled
	return &sesv2.PutConfigurationSetSendingOptionsOutput{}, nil
}

type cwFunc func(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)

func (f cwFunc) GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, o ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	return f(ctx, in, o...)
}

func TestResume(t *testing.T) {
	now := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	var asked []string
	cw := cwFunc(func(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
		var out cloudwatch.GetMetricDataOutput
		for _, q := range in.MetricDataQueries {
			for _, d := range q.MetricStat.Metric.Dimensions {
				asked = append(asked, aws.ToString(d.Value))
			}
			v := 0.098
			if aws.ToString(q.Id) == "complaint" {
				v = 0.0004
			}
			out.MetricDataResults = append(out.MetricDataResults, cwtypes.MetricDataResult{Id: q.Id, Values: []float64{v}, Timestamps: []time.Time{now.Add(-5 * time.Minute)}})
		}
		return &out, nil
	})
	o := resumeOptions{ConfigurationSet: "marketing", Region: "us-east-1", Namespace: "SESGuard", Now: now}
	for _, tc := range []struct {
		name     string
		ses      *fakeResumeSES
		yes      bool
		code     int
		puts     int
		contains []string
	}{
		{"paused, no --yes: says what it sees, changes nothing", &fakeResumeSES{status: "HEALTHY"}, false, exitUsage, 0,
			[]string{"sending disabled", "bounce rate (sesguard, newest evaluation at 2026-01-05T11:55:00Z): 9.80%", "complaint rate", "--yes"}},
		{"paused, --yes: turns sending on", &fakeResumeSES{status: "HEALTHY"}, true, exitOK, 1, []string{"Sending is on again for marketing"}},
		{"SES acted: said", &fakeResumeSES{status: "PROBATION"}, true, exitOK, 1, []string{"enforcement status PROBATION", "does not change that"}},
		{"not paused: nothing to do", &fakeResumeSES{status: "HEALTHY", enabled: true}, true, exitOK, 0, []string{"Nothing to resume"}},
		{"denied", &fakeResumeSES{status: "HEALTHY", putErr: errors.New("AccessDeniedException: no")}, true, exitInvalid, 1, []string{}},
	} {
		var out, errOut bytes.Buffer
		o.Yes = tc.yes
		code := resume(context.Background(), tc.ses, cw, o, &out, &errOut)
		if code != tc.code || len(tc.ses.puts) != tc.puts {
			t.Errorf("%s: exit %d with %d puts, want %d with %d\n%s%s", tc.name, code, len(tc.ses.puts), tc.code, tc.puts, out.String(), errOut.String())
		}
		for _, p := range tc.ses.puts {
			if !p {
				t.Errorf("%s: resume sent SendingEnabled=false", tc.name)
			}
		}
		for _, c := range tc.contains {
			if !strings.Contains(out.String(), c) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, c, out.String())
			}
		}
	}
	if len(asked) == 0 || asked[1] != "marketing" {
		t.Fatalf("rates asked for %v", asked)
	}
	if code := run(context.Background(), []string{"resume"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); code != exitUsage {
		t.Fatalf("resume without --configuration-set: exit %d", code)
	}
}
