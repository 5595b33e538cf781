package metrics

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// PutMetricDataAPI is the part of *cloudwatch.Client a Publisher uses.
type PutMetricDataAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// PutMetricData limits (CloudWatch API reference).
const (
	MaxDatumsPerCall  = 1000
	MaxBytesPerCall   = 1 << 20
	MaxValuesPerDatum = 150
)

// requestOverhead is a generous allowance for the request envelope
// (namespace, protocol framing, headers) when estimating payload size.
const requestOverhead = 2048

// Publisher collects datums and sends them with as few PutMetricData calls
// as the API allows (one, unless a flush holds more than MaxDatumsPerCall
// datums or about MaxBytesPerCall bytes). Datums for the same metric and
// dimension values are combined as the metric's Def.Agg says. It is safe
// for concurrent use.
//
// Datums added with Add carry no timestamp: CloudWatch stamps them on
// arrival. AddAt gives a datum its own time (a counted SES event's, an
// evaluation's scheduled time); datums of the same series at different
// times are separate datums. kumo (v0.33.1) cannot decode a CBOR
// timestamp in PutMetricData: package kumocw stands in front of it.
type Publisher struct {
	api       PutMetricDataAPI
	namespace string

	mu      sync.Mutex
	pending map[string]*series
	order   []*series
}

type series struct {
	def    Def
	dims   []string
	at     time.Time // zero: no timestamp
	sum    float64
	values []float64 // distinct values, in arrival order (Distribution)
	counts []float64
}

// NewPublisher returns a Publisher writing to namespace through api.
func NewPublisher(api PutMetricDataAPI, namespace string) *Publisher {
	return &Publisher{api: api, namespace: namespace, pending: map[string]*series{}}
}

// Namespace returns the namespace p publishes to.
func (p *Publisher) Namespace() string { return p.namespace }

// Add records value for metric name with the given dimension values, in the
// order of the metric's Def.Dimensions. It returns an error for an
// undeclared metric, a wrong number of dimensions or a value
// ValidateDimension refuses; nothing is recorded then.
func (p *Publisher) Add(name Name, value float64, dims ...string) error {
	return p.AddAt(name, value, time.Time{}, dims...)
}

// AddAt is Add for a datum timestamped at (to the second, as CloudWatch
// stores it; zero: no timestamp). The caller keeps at within what
// CloudWatch accepts (two weeks back to two hours ahead of its clock):
// one datum outside it fails the whole PutMetricData call.
func (p *Publisher) AddAt(name Name, value float64, at time.Time, dims ...string) error {
	def, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("metric %s: not declared in metrics.All", name)
	}
	if len(dims) != len(def.Dimensions) {
		return fmt.Errorf("metric %s: got %d dimension values, want %d (%v)", name, len(dims), len(def.Dimensions), def.Dimensions)
	}
	for i, v := range dims {
		if err := ValidateDimension(def.Dimensions[i], v); err != nil {
			return fmt.Errorf("metric %s: %w", name, err)
		}
	}
	at = at.Truncate(time.Second)
	key := seriesKey(name, dims, at)
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.pending[key]
	if s == nil {
		s = &series{def: def, dims: slices.Clone(dims), at: at}
		p.pending[key] = s
		p.order = append(p.order, s)
	}
	if def.Agg == Sum {
		s.sum += value
		return nil
	}
	if i := slices.Index(s.values, value); i >= 0 {
		s.counts[i]++
	} else {
		s.values = append(s.values, value)
		s.counts = append(s.counts, 1)
	}
	return nil
}

func seriesKey(name Name, dims []string, at time.Time) string {
	n := len(name) + 9
	for _, d := range dims {
		n += 1 + len(d)
	}
	b := make([]byte, 0, n)
	b = append(b, name...)
	for _, d := range dims {
		b = append(b, 0)
		b = append(b, d...)
	}
	if !at.IsZero() {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(at.Unix()))
	}
	return string(b)
}

// Pending returns the number of datums the next Flush would send.
func (p *Publisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.datums())
}

// Flush sends everything added since the last Flush and returns the number
// of PutMetricData calls made. It forgets the pending datums whether or not
// the calls succeed (a Lambda retries the whole batch instead), and stops at
// the first failed call.
func (p *Publisher) Flush(ctx context.Context) (calls int, err error) {
	p.mu.Lock()
	data := p.datums()
	p.pending = map[string]*series{}
	p.order = nil
	p.mu.Unlock()

	batches := Split(data)
	for i, batch := range batches {
		in := &cloudwatch.PutMetricDataInput{Namespace: aws.String(p.namespace), MetricData: batch}
		calls++
		if _, err := p.api.PutMetricData(ctx, in); err != nil {
			return calls, fmt.Errorf("put metric data to %s (call %d of %d, %d datums): %w", p.namespace, i+1, len(batches), len(batch), err)
		}
	}
	return calls, nil
}

// datums renders the pending series; p.mu must be held.
func (p *Publisher) datums() []types.MetricDatum {
	out := make([]types.MetricDatum, 0, len(p.order))
	for _, s := range p.order {
		dims := make([]types.Dimension, len(s.dims))
		for i, v := range s.dims {
			dims[i] = types.Dimension{Name: aws.String(string(s.def.Dimensions[i])), Value: aws.String(v)}
		}
		base := types.MetricDatum{MetricName: aws.String(string(s.def.Name)), Dimensions: dims, Unit: s.def.Unit}
		if !s.at.IsZero() {
			base.Timestamp = aws.Time(s.at)
		}
		if s.def.Agg == Sum {
			base.Value = aws.Float64(s.sum)
			out = append(out, base)
			continue
		}
		if len(s.values) == 1 && s.counts[0] == 1 {
			base.Value = aws.Float64(s.values[0])
			out = append(out, base)
			continue
		}
		for lo := 0; lo < len(s.values); lo += MaxValuesPerDatum {
			hi := min(lo+MaxValuesPerDatum, len(s.values))
			d := base
			d.Values = slices.Clone(s.values[lo:hi])
			d.Counts = slices.Clone(s.counts[lo:hi])
			out = append(out, d)
		}
	}
	return out
}

// Split divides data into PutMetricData-sized batches: at most
// MaxDatumsPerCall datums and about MaxBytesPerCall bytes each (estimated
// generously). It returns nil for no data.
func Split(data []types.MetricDatum) [][]types.MetricDatum {
	var out [][]types.MetricDatum
	start, size := 0, requestOverhead
	for i := range data {
		n := EstimateSize(data[i])
		if i > start && (i-start == MaxDatumsPerCall || size+n > MaxBytesPerCall) {
			out = append(out, data[start:i])
			start, size = i, requestOverhead
		}
		size += n
	}
	if start < len(data) {
		out = append(out, data[start:])
	}
	return out
}

// EstimateSize is an upper estimate of d's encoded size in bytes (the query
// protocol's form-encoding is the largest of CloudWatch's wire formats).
func EstimateSize(d types.MetricDatum) int {
	const perField = 64 // "MetricData.member.N.Dimensions.member.M.Value=" and friends
	n := perField + len(aws.ToString(d.MetricName)) + perField + len(d.Unit)
	for _, dim := range d.Dimensions {
		n += 2*perField + 3*(len(aws.ToString(dim.Name))+len(aws.ToString(dim.Value))) // worst-case percent-encoding
	}
	if d.Value != nil {
		n += perField + 32
	}
	n += (perField + 32) * (len(d.Values) + len(d.Counts))
	if d.Timestamp != nil {
		n += perField + 32
	}
	return n
}
