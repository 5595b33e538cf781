package bouncewatch

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

// RateRules are the taxonomy rules (shared/taxonomy.md) behind bounces that
// count toward the bounce rate. The evaluate path reads triage's Failures
// metric for them to name the top rules in a bounce alert; soft,
// undetermined and account-suppressed bounces are left out because
// bounceCounter does not count them (a test checks the two agree). The
// bounce.policy.* rules match DSN text whatever the bounce type, so their
// Failures counts can include some Transient bounces.
var RateRules = []string{
	"bounce.hard.no-such-user",
	"bounce.hard.general",
	"bounce.hard.suppressed",
	"bounce.policy.blocklisted",
	"bounce.policy.auth-failure",
	"bounce.policy.sender-rejected",
}

// levelPeriod is the period, in seconds, the announced levels are read back
// with. Each evaluation writes one AlertLevel datum per scope and kind, and
// the previous level is the newest of them; CloudWatch has no "last"
// statistic, so a bucket holding two runs' datums would read back as their
// Maximum (critical then ok would read as critical, and the recovery be
// announced again). 60 s is the finest period of standard-resolution data,
// so the evaluation schedule must be at least one minute apart, which is
// also EventBridge's shortest rate().
const levelPeriod = 60

// maxGetPages bounds the GetMetricData pages one evaluation follows. The
// largest read (336h, MaxWatchScopes) is well under a million datapoints,
// about ten pages; more means the API keeps handing out tokens.
const maxGetPages = 50

// evalCounters are the counters the evaluate path reads back.
var evalCounters = []counter{cSends, cHardBounces, cSoftBounces, cSuppressedBounces, cSimulator, cComplaints}

// AccountStatus is what GetAccount said, when it could be asked.
type AccountStatus struct {
	EnforcementStatus string `json:"enforcementStatus"`
	SendingEnabled    bool   `json:"sendingEnabled"`
}

// ScopeReport is one scope's evaluation.
type ScopeReport struct {
	Scope                     Scope                 `json:"scope"`
	Counts                    Counts                `json:"counts"`
	Bounce, Complaint         reputation.Assessment `json:"-"`
	PrevBounce, PrevComplaint reputation.Level      `json:"-"`
	BounceLevel               string                `json:"bounceLevel"`
	ComplaintLevel            string                `json:"complaintLevel"`
	Diverging                 bool                  `json:"diverging,omitempty"`
	PrevDiverging             bool                  `json:"-"`
	ruleCounts                map[string]float64    // account only

	// Forecast is the bounce rate's time to its next threshold at the
	// recent pace (forecast.go); nil when there is none.
	Forecast *reputation.Forecast `json:"forecast,omitempty"`
	series   [numCounters]levelSeries
}

// Report is what one evaluation found and did.
type Report struct {
	Time             time.Time      `json:"time"`
	Window           string         `json:"window"`
	Scopes           []*ScopeReport `json:"scopes"`
	SESBounceRate    *float64       `json:"sesBounceRate,omitempty"`
	SESComplaintRate *float64       `json:"sesComplaintRate,omitempty"`
	Account          *AccountStatus `json:"account,omitempty"`
	AccountErr       string         `json:"accountError,omitempty"`
	Alerts           []alert.Alert  `json:"alerts"`
	// ConfigSetSending is each watched configuration set's sending flag,
	// when GetConfigurationSet answered.
	ConfigSetSending map[string]bool `json:"configurationSetSending,omitempty"`
	// Pauses are auto-pause's decisions of this run (pause.go).
	Pauses []PauseDecision `json:"pauses,omitempty"`
	// PublishErr is the metrics publish failure of a run that had already
	// sent alerts (and so did not fail).
	PublishErr string `json:"publishError,omitempty"`
	// StateFallbacks is how many state table operations were answered
	// from this environment's memory since the last evaluation (published
	// as metrics.StateFallbacks).
	StateFallbacks int `json:"stateFallbacks,omitempty"`
	GetCalls       int `json:"getMetricDataCalls"`
	PutCalls       int `json:"putMetricDataCalls"`
}

// Evaluate reads the trailing window (one GetMetricData call), judges every
// scope, sends alerts for level changes, and publishes rates, headroom and
// the announced levels (one PutMetricData call). The four steps are
// readWindow, assess (pure), announce and persist. It evaluates as of now;
// a scheduled invocation evaluates as of its schedule's time
// (evaluationTime).
func (h *Handler) Evaluate(ctx context.Context) (*Report, error) {
	return h.evaluate(ctx, h.now())
}

// evaluate is Evaluate as of now, whose datums CloudWatch must accept
// (evaluationTime checks).
func (h *Handler) evaluate(ctx context.Context, now time.Time) (*Report, error) {
	now = now.UTC()
	rep := &Report{Time: now, Window: h.cfg.Window.String()}
	scopes := append([]Scope{{metrics.ScopeAccount, h.cfg.Region}}, h.cfg.Scopes...)
	for _, s := range scopes {
		rep.Scopes = append(rep.Scopes, &ScopeReport{Scope: s})
	}
	readBack, err := h.readWindow(ctx, rep)
	if err != nil {
		return rep, err
	}
	store := h.levels
	if store == nil {
		store = readBack
	}
	keys := levelKeys(scopes)
	prev, err := store.Load(ctx, keys)
	if err != nil {
		return rep, fmt.Errorf("load the announced levels (%d keys): %w", len(keys), err)
	}
	changes := assess(h.cfg, rep, prev)
	forecast(h.cfg, rep)
	announced := make(map[LevelKey]reputation.Level, len(keys))
	for _, k := range keys {
		announced[k] = prev[k].Level
	}
	h.announce(ctx, rep, store, prev, changes, announced)
	h.readConfigSets(ctx, rep)
	h.watchSES(ctx, rep)
	h.autoPause(ctx, rep)
	return rep, h.persist(ctx, rep, announced)
}

// readWindow reads the trailing window into rep (counts, the bounce rules'
// counts, SES's own rates, GetAccount's answer) and returns the AlertLevel
// series read with it, keyed for metricLevels.
func (h *Handler) readWindow(ctx context.Context, rep *Report) (metricLevels, error) {
	now := rep.Time
	account := rep.Scopes[0]
	account.ruleCounts = map[string]float64{}
	levels := metricLevels{}

	var queries []types.MetricDataQuery
	sinks := map[string]func([]float64, []time.Time){}
	counterPeriod := int32(counterPeriodFor(h.cfg.Window) / time.Second)
	add := func(id, ns, name string, period int32, stat string, set func([]float64, []time.Time), dims ...string) {
		var ds []types.Dimension
		for i := 0; i < len(dims); i += 2 {
			ds = append(ds, types.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
		}
		queries = append(queries, types.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(true), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(ns), MetricName: aws.String(name), Dimensions: ds},
			Period: aws.Int32(period), Stat: aws.String(stat)}})
		sinks[id] = set
	}
	ns := h.cfg.Namespace
	for i, sr := range rep.Scopes {
		st, sn := string(metrics.DimScopeType), string(metrics.DimScope)
		for _, c := range evalCounters {
			add(fmt.Sprintf("s%d_c%d", i, c), ns, string(counterMetric[c]), counterPeriod, "Sum", func(v []float64, ts []time.Time) {
				sr.Counts[c] += int64(math.Round(sum(v)))
				sr.series[c].add(v, ts)
			}, st, sr.Scope.Type, sn, sr.Scope.Name)
		}
		kinds := []string{metrics.KindBounce, metrics.KindComplaint}
		if i == 0 {
			kinds = append(kinds, metrics.KindDivergence)
		}
		for _, k := range kinds {
			ls := &levelSeries{}
			levels[LevelKey{sr.Scope, k}] = ls
			add(fmt.Sprintf("s%d_l_%s", i, k), ns, string(metrics.AlertLevel), levelPeriod, "Maximum", ls.add,
				st, sr.Scope.Type, sn, sr.Scope.Name, string(metrics.DimKind), k)
		}
	}
	sesBounce, sesComplaint := &levelSeries{}, &levelSeries{}
	add("ses_bounce", metrics.SESNamespace, metrics.SESBounceRate, 300, "Average", sesBounce.add)
	add("ses_complaint", metrics.SESNamespace, metrics.SESComplaintRate, 300, "Average", sesComplaint.add)
	for j, rule := range RateRules {
		add("r"+strconv.Itoa(j), ns, string(metrics.Failures), counterPeriod, "Sum", func(v []float64, _ []time.Time) {
			account.ruleCounts[rule] += sum(v)
		}, string(metrics.DimRule), rule, string(metrics.DimRegion), h.cfg.Region)
	}

	// The previous AlertLevel is read from the same window as the counts:
	// LoadConfig keeps the window at least MinWindow long, so the last
	// run's datum is in it. One call in the normal case; a long window over
	// many scopes can pass CloudWatch's 100,800 datapoints per call, and
	// then every page is read: a cut-off page would drop newest points, the
	// previous level among them.
	in := &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-h.cfg.Window)), EndTime: aws.Time(now),
		MetricDataQueries: queries, ScanBy: types.ScanByTimestampAscending,
	}
	for {
		out, err := h.cw.GetMetricData(ctx, in)
		rep.GetCalls++
		if err != nil {
			return nil, fmt.Errorf("read the %s window back from CloudWatch (%d queries, page %d): %w", h.cfg.Window, len(queries), rep.GetCalls, err)
		}
		for _, r := range out.MetricDataResults {
			if set := sinks[aws.ToString(r.Id)]; set != nil {
				set(r.Values, r.Timestamps)
			}
		}
		if out.NextToken == nil {
			break
		}
		if rep.GetCalls >= maxGetPages {
			return nil, fmt.Errorf("read the %s window back from CloudWatch (%d queries): still paging after %d GetMetricData calls", h.cfg.Window, len(queries), rep.GetCalls)
		}
		in.NextToken = out.NextToken
	}
	if v, _, ok := sesBounce.latest(); ok {
		rep.SESBounceRate = &v
	}
	if v, _, ok := sesComplaint.latest(); ok {
		rep.SESComplaintRate = &v
	}
	if h.ses != nil {
		acct, err := h.ses.GetAccount(ctx, &sesv2.GetAccountInput{})
		if err != nil {
			// Not fatal: kumo and restricted roles lack it; the rates stand alone.
			rep.AccountErr = err.Error()
			h.log.WarnContext(ctx, "GetAccount unavailable", "err", err)
		} else {
			rep.Account = &AccountStatus{EnforcementStatus: aws.ToString(acct.EnforcementStatus), SendingEnabled: acct.SendingEnabled}
		}
	}
	return levels, nil
}

// AlsoCoversFigure names the figure of an alert announced once for scopes
// that saw the same traffic (see mergeSameTraffic): its value lists the
// other scopes (Scope.String, comma-separated) followed by AlsoCoversWhy.
const AlsoCoversFigure = "Also covers"

// AlsoCoversWhy ends the value of an AlsoCoversFigure.
const AlsoCoversWhy = " (the same sends, bounces and complaints in the window)"

// levelChange is a level to announce: key moved from one level to another.
type levelChange struct {
	key      LevelKey
	sr       *ScopeReport
	from, to reputation.Level
	// also are the keys of narrower scopes that saw the same traffic and
	// made the same change (see mergeSameTraffic): announced by this
	// change's one alert, and saved with it so their stored level stays
	// what it would have been had each been announced on its own.
	also []LevelKey
}

// assess judges every scope of rep (its counts and SES's rates already
// read) against the previously announced levels, fills in the scopes'
// assessments, and returns the changes to announce in announcing order
// (levelKeys'). It calls nothing and reads no clock.
func assess(cfg Config, rep *Report, prev map[LevelKey]LevelState) []levelChange {
	var changes []levelChange
	for i, sr := range rep.Scopes {
		bk, ck := LevelKey{sr.Scope, metrics.KindBounce}, LevelKey{sr.Scope, metrics.KindComplaint}
		elig := sr.Counts.Eligible()
		sr.PrevBounce, sr.PrevComplaint = prev[bk].Level, prev[ck].Level
		sr.Bounce = reputation.Assess(sr.Counts[cHardBounces], elig, cfg.Rates.Bounce, sr.PrevBounce, cfg.Rates)
		sr.Complaint = reputation.Assess(sr.Counts[cComplaints], elig, cfg.Rates.Complaint, sr.PrevComplaint, cfg.Rates)
		sr.BounceLevel, sr.ComplaintLevel = sr.Bounce.Level.String(), sr.Complaint.Level.String()
		if sr.Bounce.Level != sr.PrevBounce {
			changes = append(changes, levelChange{key: bk, sr: sr, from: sr.PrevBounce, to: sr.Bounce.Level})
		}
		if sr.Complaint.Level != sr.PrevComplaint {
			changes = append(changes, levelChange{key: ck, sr: sr, from: sr.PrevComplaint, to: sr.Complaint.Level})
		}
		if i == 0 {
			dk := LevelKey{sr.Scope, metrics.KindDivergence}
			sr.PrevDiverging = prev[dk].Level != reputation.OK
			sr.Diverging = rep.SESBounceRate != nil && elig >= cfg.Rates.MinSends &&
				math.Abs(sr.Bounce.Rate-*rep.SESBounceRate)*reputation.PerMillion > float64(cfg.DivergenceMargin)
			if sr.Diverging != sr.PrevDiverging {
				changes = append(changes, levelChange{key: dk, sr: sr, from: divergenceLevel(sr.PrevDiverging), to: divergenceLevel(sr.Diverging)})
			}
		}
	}
	return mergeSameTraffic(rep, changes)
}

// mergeSameTraffic folds into the account's change every identical change
// (same kind, same from and to levels) of a scope whose counts in the
// window equal the account's. A configuration set's or domain's traffic is
// part of the account's, so equal sends, bounces and complaints mean the
// same traffic: in the default deployment sesguard sees only its
// configuration set's events, and each account alert would otherwise come
// twice. The account's alert is the one kept, since it is what SES
// enforces against and it carries SES's own rate, the account status and
// the top rules; it lists the scopes it covers. Scopes whose previous
// levels differ (they diverged earlier) make different changes and are
// still announced on their own; the metrics stay per scope.
func mergeSameTraffic(rep *Report, changes []levelChange) []levelChange {
	if len(rep.Scopes) < 2 {
		return changes
	}
	account := rep.Scopes[0]
	out := changes[:0:0]
	for _, c := range changes {
		if c.sr != account && c.sr.Counts == account.Counts {
			if i := slices.IndexFunc(out, func(a levelChange) bool {
				return a.sr == account && a.key.Kind == c.key.Kind && a.from == c.from && a.to == c.to
			}); i >= 0 {
				out[i].also = append(out[i].also, c.key)
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// divergenceLevel is how a divergence state is stored as a level.
func divergenceLevel(diverging bool) reputation.Level {
	if diverging {
		return reputation.Warning
	}
	return reputation.OK
}

// announce sends the alert of each change this evaluation wins in store
// (see LevelStore) and records in announced the level each key ends at. A
// change covering narrower scopes (levelChange.also) saves each of their
// keys too and sends one alert if it won any of them.
func (h *Handler) announce(ctx context.Context, rep *Report, store LevelStore, prev map[LevelKey]LevelState, changes []levelChange, announced map[LevelKey]reputation.Level) {
	for _, c := range changes {
		type savedKey struct {
			k     LevelKey
			saved LevelState
		}
		var won []savedKey
		for _, k := range append([]LevelKey{c.key}, c.also...) {
			saved, ok, err := store.Save(ctx, k, prev[k], LevelState{Level: c.to})
			if err != nil {
				// Announcing twice beats not announcing (DESIGN.md).
				h.log.ErrorContext(ctx, "announced level not saved; announcing anyway", "scope", k.Scope.String(), "kind", k.Kind, "err", err)
				saved, ok = LevelState{Level: c.to}, true
			}
			if !ok {
				h.log.InfoContext(ctx, "level change already announced elsewhere", "scope", k.Scope.String(), "kind", k.Kind, "level", saved.Level.String())
				announced[k] = saved.Level
				continue
			}
			won = append(won, savedKey{k, saved})
		}
		if len(won) == 0 {
			continue
		}
		var a alert.Alert
		if c.key.Kind == metrics.KindDivergence {
			a = h.divergenceAlert(rep, c.sr)
		} else {
			a = h.rateAlert(rep, c.sr, c.key.Kind)
		}
		if len(c.also) > 0 {
			var covers []string
			for _, k := range c.also {
				covers = append(covers, k.Scope.String())
			}
			a.Figures = append(a.Figures, alert.Figure{Name: AlsoCoversFigure, Value: strings.Join(covers, ", ") + AlsoCoversWhy})
		}
		sent := h.send(ctx, rep, a)
		for _, w := range won {
			k := w.k
			if sent {
				announced[k] = c.to
				continue
			}
			announced[k] = c.from
			if _, _, err := store.Save(ctx, k, w.saved, prev[k]); err != nil {
				h.log.ErrorContext(ctx, "announced level not put back after the alert failed", "scope", k.Scope.String(), "kind", k.Kind, "err", err)
			}
		}
	}
}

// persist publishes every scope's rates and headroom and the announced
// levels with one PutMetricData call, stamped with the evaluation's time:
// the next run reads the announced level back from its window.
func (h *Handler) persist(ctx context.Context, rep *Report, announced map[LevelKey]reputation.Level) error {
	pub := metrics.NewPublisher(h.cw, h.cfg.Namespace)
	at := rep.Time
	for i, sr := range rep.Scopes {
		dims := []string{sr.Scope.Type, sr.Scope.Name}
		if sr.Counts.Eligible() > 0 {
			_ = pub.AddAt(metrics.BounceRate, sr.Bounce.Rate, at, dims...)
			_ = pub.AddAt(metrics.ComplaintRate, sr.Complaint.Rate, at, dims...)
			_ = pub.AddAt(metrics.BounceHeadroom, float64(sr.Bounce.Headroom), at, dims...)
		}
		if f := sr.Forecast; f != nil && f.Target == reputation.Critical {
			_ = pub.AddAt(metrics.ForecastHoursToCritical, f.Hours, at, dims...)
		}
		kinds := []string{metrics.KindBounce, metrics.KindComplaint}
		if i == 0 {
			kinds = append(kinds, metrics.KindDivergence)
		}
		for _, k := range kinds {
			_ = pub.AddAt(metrics.AlertLevel, float64(announced[LevelKey{sr.Scope, k}]), at, sr.Scope.Type, sr.Scope.Name, k)
		}
	}
	// Read last, after every level and record operation of this run.
	if n := h.takeFallbacks(); n > 0 {
		rep.StateFallbacks = n
		_ = pub.Add(metrics.StateFallbacks, float64(n), metrics.FunctionBouncewatch)
	}
	calls, err := pub.Flush(ctx)
	rep.PutCalls = calls
	if err != nil {
		h.keepFallbacks(rep.StateFallbacks)
		err = fmt.Errorf("publish evaluation: %w", err)
		if len(rep.Alerts) > 0 {
			// The alerts went out but AlertLevel did not. Failing the
			// invocation would have EventBridge's async retries send the
			// same level changes again within minutes; the next scheduled
			// run recomputes everything instead.
			rep.PublishErr = err.Error()
			h.log.ErrorContext(ctx, "evaluation metrics not published after alerts were sent; the next run recomputes", "alerts", len(rep.Alerts), "err", err)
			return nil
		}
		return err
	}
	return nil
}

// send delivers a and reports whether it went out (without a sink, it is
// only logged and counts as announced). An alert that failed for a
// temporary reason (alert.Temporary) leaves the level unannounced, so the
// next run tries again; one refused for good (a Slack 404) is logged and
// counts as announced, as in triage, rather than tried every run.
func (h *Handler) send(ctx context.Context, rep *Report, a alert.Alert) bool {
	h.log.InfoContext(ctx, "alert", "kind", a.Kind, "level", a.Level, "scope", a.Scope, "title", a.Title)
	if h.alerts != nil {
		if err := h.alerts.Send(ctx, a); err != nil {
			if alert.Temporary(err) {
				h.log.ErrorContext(ctx, "alert not delivered; will retry next run", "scope", a.Scope, "kind", a.Kind, "err", err)
				return false
			}
			h.log.ErrorContext(ctx, "alert refused (permanent); not retried", "scope", a.Scope, "kind", a.Kind, "err", err)
		}
	}
	rep.Alerts = append(rep.Alerts, a)
	return true
}

func sum(v []float64) float64 {
	var t float64
	for _, x := range v {
		t += x
	}
	return t
}
