package kumocw

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/testkit"
)

func client(url string, compress bool) *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), DisableRequestCompression: !compress,
		RequestMinCompressSizeBytes: 0})
}

// TestTimestampsReachKumo: straight to kumo a timestamped datum fails the
// whole call (the gap this package exists for); through the handler the
// datums keep their times, GetMetricData's StartTime and EndTime select
// them, and a datum without a timestamp still gets kumo's own (the wall
// clock). The same holds for a gzip body.
func TestTimestampsReachKumo(t *testing.T) {
	srv := kumo.NewServer()
	defer srv.Close()
	h, err := Handler(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	defer front.Close()
	ctx := context.Background()
	ns := testkit.Unique("KumoCW")
	t0 := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	datum := func(v float64, at *time.Time) types.MetricDatum {
		return types.MetricDatum{MetricName: aws.String("Sends"), Value: aws.Float64(v), Timestamp: at}
	}

	_, err = client(srv.URL, false).PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns),
		MetricData: []types.MetricDatum{datum(1, aws.Time(t0))}})
	if err == nil || !strings.Contains(err.Error(), "Failed to parse request body") {
		t.Fatalf("kumo took a CBOR timestamp (err %v): this package may no longer be needed", err)
	}

	for _, compress := range []bool{false, true} {
		cw := client(front.URL, compress)
		if _, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns),
			MetricData: []types.MetricDatum{datum(3, aws.Time(t0)), datum(4, aws.Time(t0.Add(time.Hour))), datum(5, nil)}}); err != nil {
			t.Fatalf("compress %v: %v", compress, err)
		}
	}
	read := func(from, to time.Time) ([]float64, []time.Time) {
		out, err := client(front.URL, false).GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(from), EndTime: aws.Time(to),
			MetricDataQueries: []types.MetricDataQuery{{Id: aws.String("a"), MetricStat: &types.MetricStat{
				Metric: &types.Metric{Namespace: aws.String(ns), MetricName: aws.String("Sends")}, Period: aws.Int32(60), Stat: aws.String("Sum")}}}})
		if err != nil {
			t.Fatal(err)
		}
		return out.MetricDataResults[0].Values, out.MetricDataResults[0].Timestamps
	}
	v, ts := read(t0.Add(-time.Minute), t0.Add(30*time.Minute))
	if len(v) != 2 || v[0] != 3 || v[1] != 3 || !ts[0].Equal(t0) {
		t.Errorf("14:29-15:00 read %v at %v, want 3 and 3 (one per call) at %s", v, ts, t0)
	}
	if v, _ := read(t0.Add(30*time.Minute), t0.Add(2*time.Hour)); len(v) != 2 || v[0] != 4 {
		t.Errorf("15:00-16:30 read %v, want 4 and 4", v)
	}
	now := time.Now()
	if v, _ := read(now.Add(-time.Hour), now.Add(time.Minute)); len(v) != 2 || v[0] != 5 {
		t.Errorf("the last hour (wall clock) read %v, want the two untimestamped 5s", v)
	}
}

func TestRewriteRefusesJunk(t *testing.T) {
	for _, body := range [][]byte{{0xff}, {0x01}} {
		if _, err := Rewrite(body); err == nil {
			t.Errorf("Rewrite(%x) took it", body)
		}
	}
	if _, err := Handler("not a url"); err == nil {
		t.Error("Handler took a URL without a scheme and host")
	}
}
