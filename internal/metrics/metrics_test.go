package metrics

import (
	"context"
	"strconv"
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

type putFunc func(context.Context, *cloudwatch.PutMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)

func (f putFunc) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, o ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	return f(ctx, in, o...)
}

func recorder(calls *[]*cloudwatch.PutMetricDataInput) putFunc {
	return func(_ context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
		*calls = append(*calls, in)
		return &cloudwatch.PutMetricDataOutput{}, nil
	}
}

func TestAllDeclarations(t *testing.T) {
	seen := map[Name]bool{}
	for _, d := range All {
		if seen[d.Name] {
			t.Errorf("%s declared twice", d.Name)
		}
		seen[d.Name] = true
		if len(d.Dimensions) == 0 {
			t.Errorf("%s has no dimensions", d.Name)
		}
		if d.Unit == "" {
			t.Errorf("%s has no unit", d.Name)
		}
		if got, ok := Lookup(d.Name); !ok || got.Name != d.Name {
			t.Errorf("Lookup(%s) = %v, %v", d.Name, got, ok)
		}
	}
	for _, n := range []Name{Failures, PoisonRecords, StateFallbacks, FactsUnavailable, Sends, Deliveries, HardBounces, SoftBounces, SuppressedBounces, SimulatorEvents, Complaints, Rejects, BounceRate, ComplaintRate, BounceHeadroom, AlertLevel} {
		if !seen[n] {
			t.Errorf("%s missing from All", n)
		}
	}
	for d, vals := range AllowedValues {
		for _, v := range vals {
			if err := ValidateDimension(d, v); err != nil {
				t.Errorf("allowed value refused: %v", err)
			}
		}
		if err := ValidateDimension(d, "not-a-value"); err == nil {
			t.Errorf("dimension %s accepted an unlisted value", d)
		}
	}
}

func TestNamespace(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if ns, err := Namespace(getenv); err != nil || ns != DefaultNamespace {
		t.Fatalf("default: %q, %v", ns, err)
	}
	env[EnvNamespace] = "Custom"
	if ns, err := Namespace(getenv); err != nil || ns != "Custom" {
		t.Fatalf("custom: %q, %v", ns, err)
	}
	env[EnvNamespace] = "AWS/SES"
	if _, err := Namespace(getenv); err == nil || !strings.Contains(err.Error(), EnvNamespace) {
		t.Fatalf("AWS/ prefix accepted or error does not name the variable: %v", err)
	}
}

func TestAddRefuses(t *testing.T) {
	p := NewPublisher(nil, "X")
	for _, tc := range []struct {
		name string
		m    Name
		dims []string
		want string
	}{
		{"undeclared", "Nope", nil, "not declared"},
		{"too few dims", Sends, []string{ScopeAccount}, "got 1 dimension values, want 2"},
		{"address", Sends, []string{ScopeDomain, "jane@example.com"}, "contains '@'"},
		{"closed set", Sends, []string{"planet", "x"}, "not one of"},
		{"empty", Failures, []string{"bounce.hard.general", ""}, "empty value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Add(tc.m, 1, tc.dims...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "jane@") {
				t.Fatalf("error leaks the address: %v", err)
			}
		})
	}
	if n := p.Pending(); n != 0 {
		t.Fatalf("refused datums were recorded: %d pending", n)
	}
}

func TestAggregation(t *testing.T) {
	var calls []*cloudwatch.PutMetricDataInput
	p := NewPublisher(recorder(&calls), "X")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		must(p.Add(Sends, 2, ScopeDomain, "example.com"))
	}
	must(p.Add(Sends, 1, ScopeDomain, "example.org"))
	must(p.Add(BounceRate, 0.01, ScopeAccount, "us-east-1"))
	must(p.Add(BounceRate, 0.02, ScopeAccount, "us-east-1"))
	must(p.Add(BounceRate, 0.01, ScopeAccount, "us-east-1"))
	must(p.Add(BounceHeadroom, 7, ScopeAccount, "us-east-1"))
	n, err := p.Flush(context.Background())
	if err != nil || n != 1 || len(calls) != 1 {
		t.Fatalf("Flush = %d, %v; %d calls", n, err, len(calls))
	}
	got := map[string]types.MetricDatum{}
	for _, d := range calls[0].MetricData {
		got[*d.MetricName+"/"+*d.Dimensions[1].Value] = d
	}
	if len(got) != 4 {
		t.Fatalf("got %d datums, want 4: %v", len(got), got)
	}
	if v := got["Sends/example.com"].Value; v == nil || *v != 6 {
		t.Errorf("summed counter = %v, want 6", v)
	}
	br := got["BounceRate/us-east-1"]
	if br.Value != nil || len(br.Values) != 2 || br.Values[0] != 0.01 || br.Counts[0] != 2 || br.Values[1] != 0.02 || br.Counts[1] != 1 {
		t.Errorf("gauge distribution = %v %v %v", br.Value, br.Values, br.Counts)
	}
	if v := got["BounceHeadroom/us-east-1"].Value; v == nil || *v != 7 {
		t.Errorf("single gauge value = %v, want 7", v)
	}
	if got["Sends/example.com"].Unit != types.StandardUnitCount {
		t.Errorf("unit = %q", got["Sends/example.com"].Unit)
	}
	if n, _ := p.Flush(context.Background()); n != 0 {
		t.Errorf("second flush made %d calls, want 0", n)
	}
}

// TestAddAt: datums of one series at different times stay apart, each
// with its timestamp (to the second); the same time sums into one datum;
// Add's datums carry none.
func TestAddAt(t *testing.T) {
	var calls []*cloudwatch.PutMetricDataInput
	p := NewPublisher(recorder(&calls), "X")
	t0 := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	for _, at := range []time.Time{t0, t0.Add(500 * time.Millisecond), t0.Add(time.Minute)} {
		if err := p.AddAt(Sends, 2, at, ScopeAccount, "us-east-1"); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.Add(Sends, 5, ScopeAccount, "us-east-1")
	if n, err := p.Flush(context.Background()); err != nil || n != 1 {
		t.Fatalf("Flush = %d, %v", n, err)
	}
	got := map[string]float64{}
	for _, d := range calls[0].MetricData {
		k := "none"
		if d.Timestamp != nil {
			k = d.Timestamp.Format("15:04:05.000")
		}
		got[k] += aws.ToFloat64(d.Value)
	}
	want := map[string]float64{"14:30:00.000": 4, "14:31:00.000": 2, "none": 5}
	if len(got) != len(want) || len(calls[0].MetricData) != 3 {
		t.Fatalf("datums by timestamp = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("datums by timestamp = %v, want %v", got, want)
		}
	}
}

func TestSplitAtLimits(t *testing.T) {
	var calls []*cloudwatch.PutMetricDataInput
	p := NewPublisher(recorder(&calls), "X")
	for i := range 2500 {
		if err := p.Add(Failures, 1, "bounce.hard.general", "r-"+itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := p.Flush(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("Flush = %d, %v; want 3 calls", n, err)
	}
	if len(calls[0].MetricData) != 1000 || len(calls[1].MetricData) != 1000 || len(calls[2].MetricData) != 500 {
		t.Fatalf("batch sizes %d %d %d", len(calls[0].MetricData), len(calls[1].MetricData), len(calls[2].MetricData))
	}

	// Big dimension values: the byte limit splits before the count limit.
	calls = nil
	long := strings.Repeat("d", 1000)
	for i := range 600 {
		if err := p.Add(Sends, 1, ScopeDomain, long+itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Flush(context.Background()); err != nil || n < 2 {
		t.Fatalf("Flush = %d, %v; want at least 2 calls", n, err)
	}
	for i, c := range calls {
		size := requestOverhead
		for _, d := range c.MetricData {
			size += EstimateSize(d)
		}
		if size > MaxBytesPerCall {
			t.Errorf("call %d estimated at %d bytes", i, size)
		}
	}
}

func TestManyDistinctValuesSplitDatum(t *testing.T) {
	var calls []*cloudwatch.PutMetricDataInput
	p := NewPublisher(recorder(&calls), "X")
	for i := range 200 {
		_ = p.Add(BounceRate, float64(i), ScopeAccount, "us-east-1")
	}
	if _, err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	md := calls[0].MetricData
	if len(md) != 2 || len(md[0].Values) != MaxValuesPerDatum || len(md[1].Values) != 50 {
		t.Fatalf("got %d datums", len(md))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// newKumoClient returns a CloudWatch client for a kumo server. kumo cannot
// read gzip request bodies, and the SDK compresses PutMetricData.
func newKumoClient(url string) *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:                    "us-east-1",
		BaseEndpoint:              aws.String(url),
		Credentials:               credentials.NewStaticCredentialsProvider("test", "test", ""),
		DisableRequestCompression: true,
	})
}

func TestPublishReadBackKumo(t *testing.T) {
	srv := kumo.NewServer()
	defer srv.Close()
	cw := newKumoClient(srv.URL)
	// kumo's registry is process-wide: another server (or -count=2) sees
	// the datums of this one, so the namespace is this run's own.
	ns := testkit.Unique("SESGuardTest")
	p := NewPublisher(cw, ns)
	for range 5 {
		_ = p.Add(HardBounces, 1, ScopeAccount, "us-east-1")
	}
	_ = p.Add(Sends, 100, ScopeAccount, "us-east-1")
	_ = p.Add(AlertLevel, 2, ScopeAccount, "us-east-1", KindBounce)
	ctx := context.Background()
	if n, err := p.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("Flush = %d, %v", n, err)
	}
	_ = p.Add(HardBounces, 3, ScopeAccount, "us-east-1")
	if _, err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	q := func(id string, name Name, dims ...types.Dimension) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(ns), MetricName: aws.String(string(name)), Dimensions: dims},
			Period: aws.Int32(300), Stat: aws.String("Sum")}}
	}
	dim := func(k Dim, v string) types.Dimension {
		return types.Dimension{Name: aws.String(string(k)), Value: aws.String(v)}
	}
	now := time.Now()
	out, err := cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Minute)),
		MetricDataQueries: []types.MetricDataQuery{
			q("hb", HardBounces, dim(DimScopeType, ScopeAccount), dim(DimScope, "us-east-1")),
			q("s", Sends, dim(DimScopeType, ScopeAccount), dim(DimScope, "us-east-1")),
			q("al", AlertLevel, dim(DimScopeType, ScopeAccount), dim(DimScope, "us-east-1"), dim(DimKind, KindBounce)),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	for _, r := range out.MetricDataResults {
		for _, v := range r.Values {
			sums[*r.Id] += v
		}
	}
	if sums["hb"] != 8 || sums["s"] != 100 || sums["al"] != 2 {
		t.Fatalf("read back %v, want hb=8 s=100 al=2", sums)
	}
}
