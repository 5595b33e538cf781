package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/bouncewatch"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/scenario"
	"github.com/sesguard/sesguard/internal/sqsdrain"
)

// Progress is reported while replaying.
type Progress struct {
	Sim                time.Time
	Published, Total   int
	Evaluations, Alert int
}

// FiredAlert is an alert read back from the alerts topic, with the
// simulated time of the step in which it fired.
type FiredAlert struct {
	Sim     time.Time
	Subject string
	Alert   alert.Alert
}

// Evaluation is one scheduled bouncewatch run and what it reported.
type Evaluation struct {
	Sim    time.Time
	Report *bouncewatch.Report
}

// MetricValue is one metric read back from the emulated CloudWatch.
type MetricValue struct {
	Name       string
	Dimensions []string // "Name=Value"
	Points     int
	Sum, Last  float64
}

// Result is what a replay did.
type Result struct {
	Published   map[string]int // by topic logical ID
	Evaluations []Evaluation
	Alerts      []FiredAlert
	SlackPosts  int
	Metrics     []MetricValue
	Sources     map[string]SourceStats // by source name
	DLQ         map[string]int         // messages in each dead-letter queue
	Undelivered map[string]int         // messages still in a source queue
	// Paused are the configuration sets whose sending the local SES saw
	// turned off, with the simulated time of the evaluation that did it;
	// Held counts, per set, the events not published because the set was
	// paused when their message would have been sent.
	Paused []PausedSet
	Held   map[string]int
	// HeldEvents are the indices in the scenario's (sorted) events of
	// those held back.
	HeldEvents []int
	// Injected lists the injections made, with their simulated time.
	Injected []string
	// Moved is the number of days Replay moved the scenario by
	// (MoveToRecent), its injections with it.
	Moved int
	Wall  time.Duration
}

// PausedSet is a configuration set turned off during a replay.
type PausedSet struct {
	ConfigurationSet string
	Sim              time.Time
}

// Injection changes the stack at a simulated time (e.g. SES's enforcement
// status through the local SES), before that tick's scheduled runs.
type Injection struct {
	At   time.Time
	Note string
	Do   func(*Stack)
}

// ReplayOptions tunes Replay.
type ReplayOptions struct {
	// FlushAlerts: after the replay, triage announces every storm count it
	// still holds ({"action":"flush-all"}).
	FlushAlerts bool
	Progress    func(Progress)
	// Inject are made at the first tick at or after their time.
	Inject []Injection
}

// Replay publishes sc's events in simulated time, pumping every source
// after each step and running the scheduled functions at each tick of the
// simulated schedule (sc.EvaluateEvery), each with the event EventBridge
// would send at that time (or the schedule's Input). It first moves sc,
// in place, to recent dates (MoveToRecent).
func (s *Stack) Replay(ctx context.Context, sc *scenario.Scenario, o ReplayOptions) (*Result, error) {
	start := time.Now()
	res := &Result{Published: map[string]int{}, Sources: map[string]SourceStats{}, DLQ: map[string]int{}, Undelivered: map[string]int{},
		Held: map[string]int{}}
	// A configuration set paused at a simulated time sends nothing after
	// it: those events are held back, so its rates flatten while the
	// others' go on (SES refuses the sends; what was sent before still
	// bounces or is delivered).
	pausedAt := map[string]time.Time{}
	injected := make([]bool, len(o.Inject))
	res.Moved = MoveToRecent(sc, time.Now())
	injectAt := make([]time.Time, len(o.Inject))
	for j, inj := range o.Inject {
		injectAt[j] = inj.At.AddDate(0, 0, res.Moved)
	}
	every := sc.EvaluateEvery
	if every <= 0 {
		every = time.Hour
	}
	sc.Sort()
	i := 0
	for tick := sc.Start.Add(every); ; tick = tick.Add(every) {
		for ; i < len(sc.Events) && sc.Events[i].Time.Before(tick); i++ {
			e := sc.Events[i]
			if len(pausedAt) > 0 {
				if set, sent := mailOf(e); set != "" {
					if at, ok := pausedAt[set]; ok && !sent.Before(at) {
						res.Held[set]++
						res.HeldEvents = append(res.HeldEvents, i)
						continue
					}
				}
			}
			arn, ok := s.Topics[e.Topic]
			if !ok {
				return res, fmt.Errorf("event %d: no topic %s in the template", i, e.Topic)
			}
			if _, err := s.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(e.Body())}); err != nil {
				return res, fmt.Errorf("publish event %d to %s: %w", i, e.Topic, err)
			}
			res.Published[e.Topic]++
			if o.Progress != nil && i%200 == 0 {
				o.Progress(Progress{Sim: e.Time, Published: i + 1, Total: len(sc.Events), Evaluations: len(res.Evaluations), Alert: len(res.Alerts)})
			}
		}
		if err := s.Pump(ctx, nil); err != nil {
			return res, err
		}
		for j, inj := range o.Inject {
			if !injected[j] && !injectAt[j].After(tick) {
				injected[j] = true
				inj.Do(s)
				res.Injected = append(res.Injected, tick.Format("15:04")+" "+inj.Note)
			}
		}
		for _, sch := range s.Schedules {
			payload := []byte(sch.Input)
			if sch.Input == "" {
				payload, _ = json.Marshal(events.EventBridgeEvent{Version: "0", ID: fmt.Sprintf("local-%d", tick.Unix()),
					DetailType: "Scheduled Event", Source: "aws.events", AccountID: Account, Time: tick, Region: s.Region,
					Resources: []string{"arn:aws:events:" + s.Region + ":" + Account + ":rule/" + sch.Function.Name + "-" + sch.Name},
					Detail:    json.RawMessage("{}")})
			}
			inv, err := sch.Function.Invoke(ctx, payload)
			if err != nil {
				return res, err
			}
			if inv.FunctionError != "" {
				return res, fmt.Errorf("%s %s at %s: function error: %s", sch.Function.LogicalID, sch.Name, tick.Format("15:04"), inv.Payload)
			}
			var rep bouncewatch.Report
			err = json.Unmarshal(inv.Payload, &rep)
			if err != nil && sch.Function.LogicalID == "BouncewatchFunction" {
				// Its evaluation's report: one that does not decode would
				// silently drop the evaluation from the story.
				return res, fmt.Errorf("%s %s at %s: decode the report: %w", sch.Function.LogicalID, sch.Name, tick.Format("15:04"), err)
			}
			if err == nil && !rep.Time.IsZero() {
				res.Evaluations = append(res.Evaluations, Evaluation{Sim: tick, Report: &rep})
			}
		}
		for _, set := range sc.ConfigurationSets {
			if on, known := s.SES.SendingEnabled(s.Region, set); known && !on {
				if _, done := pausedAt[set]; !done {
					pausedAt[set] = tick
					res.Paused = append(res.Paused, PausedSet{ConfigurationSet: set, Sim: tick})
				}
			}
		}
		if err := s.readAlerts(ctx, tick, res); err != nil {
			return res, err
		}
		if o.Progress != nil {
			o.Progress(Progress{Sim: tick, Published: i, Total: len(sc.Events), Evaluations: len(res.Evaluations), Alert: len(res.Alerts)})
		}
		if i >= len(sc.Events) && !tick.Before(sc.End) {
			break
		}
	}
	if o.FlushAlerts {
		if err := s.flushTriage(ctx); err != nil {
			return res, err
		}
		if err := s.readAlerts(ctx, sc.End, res); err != nil {
			return res, err
		}
	}
	for _, src := range s.Sources {
		res.Sources[src.Name()] = src.Stats()
		n, err := s.Depth(ctx, src.Queue)
		if err != nil {
			return res, err
		}
		res.Undelivered[src.Name()] = n
	}
	// Every dead-letter queue: the queues' redrive targets and the
	// functions' failure destinations.
	var dlqs []*Queue
	for _, q := range s.Queues {
		if q.DLQ != "" {
			dlqs = append(dlqs, s.Queues[q.DLQ])
		}
	}
	for _, fn := range s.Functions {
		dlqs = append(dlqs, fn.Async.OnFailure, fn.Async.DeadLetter)
	}
	for _, q := range dlqs {
		if q == nil {
			continue
		}
		if _, done := res.DLQ[q.LogicalID]; done {
			continue
		}
		n, err := s.Depth(ctx, q)
		if err != nil {
			return res, err
		}
		res.DLQ[q.LogicalID] = n
	}
	res.SlackPosts = len(s.Slack.Posts())
	var err error
	// Counts carry the events' times, evaluations their ticks, and
	// triage's metrics the wall clock (now, as is the stamp of an event
	// too old for CloudWatch).
	res.Metrics, err = s.ReadMetrics(ctx, s.namespace(), sc.Start.Add(-time.Hour), time.Now().Add(time.Hour))
	res.Wall = time.Since(start)
	return res, err
}

// mailOf returns the configuration set an SES event's message was sent
// through and when it was sent ("" for anything else).
func mailOf(e scenario.Event) (set string, sent time.Time) {
	var m struct {
		Mail struct {
			Timestamp time.Time           `json:"timestamp"`
			Tags      map[string][]string `json:"tags"`
		} `json:"mail"`
	}
	if e.Topic != scenario.TopicSESEvents || json.Unmarshal(e.Message, &m) != nil {
		return "", time.Time{}
	}
	if v := m.Mail.Tags["ses:configuration-set"]; len(v) > 0 {
		return v[0], m.Mail.Timestamp
	}
	return "", time.Time{}
}

// Namespace is the CloudWatch namespace the stack's functions publish to.
func (s *Stack) Namespace() string { return s.namespace() }

func (s *Stack) namespace() string {
	if v := s.Params["MetricsNamespace"]; v != "" {
		return v
	}
	return metrics.DefaultNamespace
}

// flushTriage asks triage to announce every storm count it still holds
// ({"action":"flush-all"}), as an operator would before the environments
// go away: what a replay ends with is not left unannounced. Every
// environment is asked, one after another: each may hold counts of its
// own (with the shared state table, the first announces what the others
// then find already announced).
func (s *Stack) flushTriage(ctx context.Context) error {
	fn := s.Functions["TriageFunction"]
	if fn == nil {
		return nil
	}
	for env := range fn.EnvironmentCount() {
		inv, err := fn.InvokeOn(ctx, env, []byte(`{"action":"flush-all"}`))
		if err != nil {
			return err
		}
		if inv.FunctionError != "" {
			return fmt.Errorf("triage flush-all (environment %d): %s", env, inv.Payload)
		}
	}
	return nil
}

// readAlerts reads every alert on the alerts queue into res, as fired at
// sim. It is called once every function of the step has returned, so every
// alert of the step is on the queue, and it reads until the queue is empty,
// in flight included (sqsdrain.Drain): a receive whose reply was lost
// leaves its messages hidden until their visibility timeout; they are
// waited for and read with their own step, not a later one, or never, when
// the replay ends first.
func (s *Stack) readAlerts(ctx context.Context, sim time.Time, res *Result) error {
	if s.AlertsQueue == nil {
		return nil
	}
	err := sqsdrain.Drain(ctx, s.SQS, s.AlertsQueue.URL, receiveVisibility, stallLimit, func(body string) error {
		var env struct{ Subject, Message string }
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			return fmt.Errorf("not an SNS envelope: %w", err)
		}
		var a alert.Alert
		if err := json.Unmarshal([]byte(env.Message), &a); err != nil {
			return fmt.Errorf("message is not an alert: %w", err)
		}
		res.Alerts = append(res.Alerts, FiredAlert{Sim: sim, Subject: env.Subject, Alert: a})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read alerts from %s: %w", s.AlertsQueue.LogicalID, err)
	}
	return nil
}

// ReadMetrics reads every metric of namespace back from the emulated
// CloudWatch: all of its points from from to to, summed and the latest.
func (s *Stack) ReadMetrics(ctx context.Context, namespace string, from, to time.Time) ([]MetricValue, error) {
	var list []cwtypes.Metric
	p := cloudwatch.NewListMetricsPaginator(s.CW, &cloudwatch.ListMetricsInput{Namespace: aws.String(namespace)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list metrics: %w", err)
		}
		list = append(list, out.Metrics...)
	}
	var vals []MetricValue
	for start := 0; start < len(list); start += 500 {
		batch := list[start:min(len(list), start+500)]
		q := make([]cwtypes.MetricDataQuery, len(batch))
		for i := range batch {
			q[i] = cwtypes.MetricDataQuery{Id: aws.String(fmt.Sprintf("m%d", i)), ReturnData: aws.Bool(true),
				MetricStat: &cwtypes.MetricStat{Metric: &batch[i], Period: aws.Int32(60), Stat: aws.String("Sum")}}
		}
		out, err := s.CW.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{MetricDataQueries: q,
			StartTime: aws.Time(from), EndTime: aws.Time(to), ScanBy: cwtypes.ScanByTimestampAscending})
		if err != nil {
			return nil, fmt.Errorf("read metrics: %w", err)
		}
		for _, r := range out.MetricDataResults {
			var i int
			fmt.Sscanf(aws.ToString(r.Id), "m%d", &i)
			m := batch[i]
			mv := MetricValue{Name: aws.ToString(m.MetricName), Points: len(r.Values)}
			for _, d := range m.Dimensions {
				mv.Dimensions = append(mv.Dimensions, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
			}
			for _, v := range r.Values {
				mv.Sum += v
			}
			if len(r.Values) > 0 {
				mv.Last = r.Values[len(r.Values)-1]
			}
			vals = append(vals, mv)
		}
	}
	sort.Slice(vals, func(i, j int) bool {
		if vals[i].Name != vals[j].Name {
			return vals[i].Name < vals[j].Name
		}
		return fmt.Sprint(vals[i].Dimensions) < fmt.Sprint(vals[j].Dimensions)
	})
	return vals, nil
}
