package bouncewatch

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/sesguard/sesguard/internal/testkit"
)

// memCloudWatch is an in-memory CloudWatch at our interface, for tests that
// need simulated time (kumo stamps data with the wall clock and cannot
// decode a timestamp; package kumocw mends that for the tests that use
// kumo). A datum keeps its Timestamp, or is stamped with now() on arrival
// without one; as CloudWatch does, a call with a datum stamped more than
// two weeks before now() or more than two hours after it is refused
// whole. GetMetricData returns the raw points of an exactly matching
// metric in (start, end], oldest first, ignoring Stat and Period (as kumo
// does) unless aggregate is set.
type memCloudWatch struct {
	mu     sync.Mutex
	now    func() time.Time
	points map[string][]point
	puts   []*cloudwatch.PutMetricDataInput
	gets   int
	putErr error
	// aggregate makes GetMetricData behave like CloudWatch: points fall in
	// buckets of the query's Period (aligned to the epoch) and each bucket
	// reads back as the query's Stat.
	aggregate bool
	// pageSize, when set, makes GetMetricData return at most that many
	// datapoints per call, continued with NextToken (CloudWatch pages at
	// 100,800).
	pageSize int
}

type point struct {
	t time.Time
	v float64
}

func newMemCloudWatch(now func() time.Time) *memCloudWatch {
	return &memCloudWatch{now: now, points: map[string][]point{}}
}

func metricKey(ns, name string, dims []types.Dimension) string {
	var ds []string
	for _, d := range dims {
		ds = append(ds, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	sort.Strings(ds)
	return ns + "|" + name + "|" + strings.Join(ds, ",")
}

func (m *memCloudWatch) PutMetricData(_ context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts = append(m.puts, in)
	if m.putErr != nil {
		return nil, m.putErr
	}
	now := m.now()
	for _, d := range in.MetricData {
		if d.Timestamp != nil && (d.Timestamp.Before(now.Add(-14*24*time.Hour)) || d.Timestamp.After(now.Add(2*time.Hour))) {
			return nil, fmt.Errorf("InvalidParameterValue: the timestamp %s of %s is not within two weeks before and two hours after %s",
				d.Timestamp.Format(time.RFC3339), aws.ToString(d.MetricName), now.Format(time.RFC3339))
		}
	}
	for _, d := range in.MetricData {
		k := metricKey(aws.ToString(in.Namespace), aws.ToString(d.MetricName), d.Dimensions)
		t := now
		if d.Timestamp != nil {
			t = *d.Timestamp
		}
		if d.Value != nil {
			m.points[k] = append(m.points[k], point{t, *d.Value})
		}
		for i, v := range d.Values {
			for range int(d.Counts[i]) {
				m.points[k] = append(m.points[k], point{t, v})
			}
		}
	}
	return &cloudwatch.PutMetricDataOutput{}, nil
}

// put stores one value directly (for AWS/SES and triage's metrics).
func (m *memCloudWatch) put(ns, name string, v float64, dims ...string) {
	var ds []types.Dimension
	for i := 0; i < len(dims); i += 2 {
		ds = append(ds, types.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := metricKey(ns, name, ds)
	m.points[k] = append(m.points[k], point{m.now(), v})
}

func (m *memCloudWatch) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		ms := q.MetricStat
		k := metricKey(aws.ToString(ms.Metric.Namespace), aws.ToString(ms.Metric.MetricName), ms.Metric.Dimensions)
		r := types.MetricDataResult{Id: q.Id, StatusCode: types.StatusCodeComplete}
		var pts []point
		for _, p := range m.points[k] {
			if p.t.After(*in.StartTime) && !p.t.After(*in.EndTime) {
				pts = append(pts, p)
			}
		}
		if m.aggregate {
			pts = aggregate(pts, time.Duration(aws.ToInt32(ms.Period))*time.Second, aws.ToString(ms.Stat))
		}
		for _, p := range pts {
			r.Timestamps = append(r.Timestamps, p.t)
			r.Values = append(r.Values, p.v)
		}
		out.MetricDataResults = append(out.MetricDataResults, r)
	}
	if m.pageSize > 0 {
		return m.page(out, in.NextToken)
	}
	return out, nil
}

// page cuts the datapoints of full (query by query, oldest first) into
// pages of m.pageSize and returns the one token points at.
func (m *memCloudWatch) page(full *cloudwatch.GetMetricDataOutput, token *string) (*cloudwatch.GetMetricDataOutput, error) {
	off := 0
	if token != nil {
		var err error
		if off, err = strconv.Atoi(*token); err != nil {
			return nil, fmt.Errorf("bad NextToken %q", *token)
		}
	}
	out := &cloudwatch.GetMetricDataOutput{}
	i := 0
	for _, r := range full.MetricDataResults {
		pr := types.MetricDataResult{Id: r.Id, StatusCode: types.StatusCodeComplete}
		for j := range r.Values {
			if i >= off && i < off+m.pageSize {
				pr.Values = append(pr.Values, r.Values[j])
				pr.Timestamps = append(pr.Timestamps, r.Timestamps[j])
			}
			i++
		}
		out.MetricDataResults = append(out.MetricDataResults, pr)
	}
	if off+m.pageSize < i {
		out.NextToken = aws.String(strconv.Itoa(off + m.pageSize))
	}
	return out, nil
}

// aggregate folds points (oldest first) into epoch-aligned buckets of
// period, each read as stat, oldest bucket first.
func aggregate(pts []point, period time.Duration, stat string) []point {
	var out []point
	var n int
	for _, p := range pts {
		b := p.t.Truncate(period)
		if len(out) == 0 || !out[len(out)-1].t.Equal(b) {
			out = append(out, point{b, p.v})
			n = 1
			if stat == "SampleCount" {
				out[len(out)-1].v = 1
			}
			continue
		}
		last := &out[len(out)-1]
		switch stat {
		case "Sum":
			last.v += p.v
		case "Maximum":
			last.v = max(last.v, p.v)
		case "Minimum":
			last.v = min(last.v, p.v)
		case "Average":
			last.v = (last.v*float64(n) + p.v) / float64(n+1)
		case "SampleCount":
			last.v++
		default:
			panic("memCloudWatch: unsupported stat " + stat)
		}
		n++
	}
	return out
}

// datums returns every datum of every PutMetricData call, by
// "Name/ScopeType/Scope[/Kind]" (or "Name/dim..." for others), summed.
func (m *memCloudWatch) datums() map[string]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	got := map[string]float64{}
	for _, in := range m.puts {
		for _, d := range in.MetricData {
			k := aws.ToString(d.MetricName)
			for _, dim := range d.Dimensions {
				k += "/" + aws.ToString(dim.Value)
			}
			v := aws.ToFloat64(d.Value)
			for i, x := range d.Values {
				v += x * d.Counts[i]
			}
			got[k] += v
		}
	}
	return got
}

func (m *memCloudWatch) dimensionValues() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var vs []string
	for _, in := range m.puts {
		for _, d := range in.MetricData {
			for _, dim := range d.Dimensions {
				vs = append(vs, aws.ToString(dim.Value))
			}
		}
	}
	return slices.Compact(vs)
}

func healthyAccount() testkit.WithAccount {
	return testkit.WithAccount{Account: testkit.Account(true)}
}

func mustNew(tb testing.TB, cfg Config, d Deps) *Handler {
	tb.Helper()
	h, err := New(cfg, d)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
