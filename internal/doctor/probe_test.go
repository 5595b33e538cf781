package doctor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

type sendFunc func(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)

func (f sendFunc) SendEmail(ctx context.Context, in *sesv2.SendEmailInput, o ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	return f(ctx, in, o...)
}

// countingCW answers GetMetricData with counts[i] on the i-th call (the
// last one repeated).
type countingCW struct {
	CloudWatch
	counts []float64
	calls  int
	dims   []cwtypes.Dimension
}

func (c *countingCW) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	v := c.counts[min(c.calls, len(c.counts)-1)]
	c.calls++
	c.dims = in.MetricDataQueries[0].MetricStat.Metric.Dimensions
	return &cloudwatch.GetMetricDataOutput{MetricDataResults: []cwtypes.MetricDataResult{{Id: aws.String("f"), Values: []float64{v}}}}, nil
}

func probeOpts(clock *time.Time) ProbeOptions {
	return ProbeOptions{Region: region, From: ProbeFrom("example.com"), ConfigurationSet: "sesguard", Timeout: 3 * time.Minute, Poll: 20 * time.Second,
		Now:   func() time.Time { return *clock },
		Sleep: func(_ context.Context, d time.Duration) error { *clock = clock.Add(d); return nil }}
}

func TestProbe(t *testing.T) {
	var sent *sesv2.SendEmailInput
	send := sendFunc(func(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
		sent = in
		return &sesv2.SendEmailOutput{MessageId: aws.String("m-1")}, nil
	})
	clock := fixedNow()
	cw := &countingCW{counts: []float64{2, 2, 2, 3}}
	r := Probe(context.Background(), send, cw, probeOpts(&clock))
	if r.Status != Pass || cw.calls != 4 {
		t.Fatalf("got %s after %d reads: %s", r.Status, cw.calls, r.Summary)
	}
	if sent.Destination.ToAddresses[0] != ProbeRecipient || aws.ToString(sent.ConfigurationSetName) != "sesguard" || aws.ToString(sent.FromEmailAddress) != "sesguard-doctor-probe@example.com" {
		t.Errorf("sent %+v", sent)
	}
	if aws.ToString(cw.dims[0].Value) != ProbeRule || aws.ToString(cw.dims[1].Value) != region {
		t.Errorf("reads %v", cw.dims)
	}

	clock = fixedNow()
	r = Probe(context.Background(), send, &countingCW{counts: []float64{2}}, probeOpts(&clock))
	if r.Status != Fail || len(r.Fix) == 0 || clock.Sub(fixedNow()) < 3*time.Minute || clock.Sub(fixedNow()) > 4*time.Minute {
		t.Errorf("never counted: %s after %s: %s", r.Status, clock.Sub(fixedNow()), r.Summary)
	}

	clock = fixedNow()
	refused := sendFunc(func(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
		return nil, errors.New("MessageRejected: Email address is not verified")
	})
	if r := Probe(context.Background(), refused, &countingCW{counts: []float64{0}}, probeOpts(&clock)); r.Status != Fail {
		t.Errorf("refused send: %+v", r)
	}
}
