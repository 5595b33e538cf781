package stack_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
	"github.com/sesguard/sesguard/internal/stack"
)

// ourNS stands for Ref MetricsNamespace in a metric reference.
const ourNS = "REF:MetricsNamespace"

// metricRef is one metric a dashboard widget or an alarm names.
type metricRef struct {
	where     string
	namespace string            // ourNS, or a literal such as AWS/SES
	name      string            // metric name
	dims      map[string]string // dimension values; "REF:X" for a Ref/${X}
	search    bool              // from a SEARCH expression: dims values unknown
}

// AWS's own metrics the template may use, by namespace, with the only
// dimensions each takes.
var awsMetrics = map[string]struct {
	names []string
	dims  []string
}{
	metrics.SESNamespace: {[]string{metrics.SESBounceRate, metrics.SESComplaintRate}, nil},
	"AWS/Lambda":         {[]string{"Invocations", "Errors", "Throttles", "Duration"}, []string{"FunctionName"}},
	"AWS/SQS":            {[]string{"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}, []string{"QueueName"}},
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

// dashboardBody returns the dashboard JSON with every ${X} of its Fn::Sub
// replaced by "REF:X" (so a literal namespace cannot pass for the
// parameter).
func dashboardBody(t *testing.T, tpl *stack.Template) map[string]any {
	t.Helper()
	ids := tpl.OfType("AWS::CloudWatch::Dashboard")
	if len(ids) != 1 {
		t.Fatalf("want one dashboard, have %v", ids)
	}
	sub, ok := stack.Get(tpl.Resources[ids[0]].Properties, "DashboardBody", "Fn::Sub")
	s, isString := sub.(string)
	if !ok || !isString {
		t.Fatal("DashboardBody is not a !Sub string")
	}
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		id, _, _ := strings.Cut(m[1], ".")
		if _, isRes := tpl.Resources[id]; !isRes && tpl.Parameters[id].Type == "" && !strings.HasPrefix(id, "AWS::") {
			t.Errorf("dashboard: ${%s} names no parameter or resource", m[1])
		}
	}
	s = subVar.ReplaceAllString(s, "REF:$1")
	var body map[string]any
	if err := json.Unmarshal([]byte(s), &body); err != nil {
		t.Fatalf("dashboard body is not valid JSON: %v", err)
	}
	if _, ok := body["widgets"].([]any); !ok {
		t.Fatal("dashboard body has no widgets array")
	}
	return body
}

var searchExpr = regexp.MustCompile(`\{([^}]*)\}\s*MetricName\s*=\s*\\?"([^"\\]+)\\?"`)

// widgetRefs returns the metrics a metric widget names.
func widgetRefs(t *testing.T, where string, w any) []metricRef {
	t.Helper()
	list, _ := stack.Get(w, "properties", "metrics")
	rows, _ := list.([]any)
	var out []metricRef
	for i, row := range rows {
		cells, _ := row.([]any)
		at := fmt.Sprintf("%s metrics[%d]", where, i)
		if len(cells) == 0 {
			t.Errorf("%s: empty metric row", at)
			continue
		}
		if obj, ok := cells[0].(map[string]any); ok {
			expr, _ := obj["expression"].(string)
			for _, m := range searchExpr.FindAllStringSubmatch(expr, -1) {
				schema := strings.Split(m[1], ",")
				r := metricRef{where: at, namespace: strings.TrimSpace(schema[0]), name: m[2], dims: map[string]string{}, search: true}
				for _, d := range schema[1:] {
					r.dims[strings.TrimSpace(d)] = ""
				}
				out = append(out, r)
			}
			if !searchExpr.MatchString(expr) {
				t.Errorf("%s: expression %q names no metric this test can check", at, expr)
			}
			continue
		}
		var strs []string
		for _, c := range cells {
			if s, ok := c.(string); ok {
				strs = append(strs, s)
			}
		}
		if len(strs) < 2 || len(strs)%2 != 0 {
			t.Errorf("%s: want namespace, name and dimension pairs, got %v", at, strs)
			continue
		}
		if slices.Contains(strs, ".") || slices.Contains(strs, "..") {
			t.Errorf("%s: the \".\" shorthand hides the metric from this test; write it out", at)
		}
		r := metricRef{where: at, namespace: strs[0], name: strs[1], dims: map[string]string{}}
		for j := 2; j+1 < len(strs); j += 2 {
			r.dims[strs[j]] = strs[j+1]
		}
		out = append(out, r)
	}
	return out
}

// alarmRefs returns the metrics each alarm names.
func alarmRefs(t *testing.T, tpl *stack.Template) map[string][]metricRef {
	out := map[string][]metricRef{}
	conv := func(where string, ns, name any, dims any) metricRef {
		r := metricRef{where: where, name: fmt.Sprint(name), dims: map[string]string{}}
		if id, _, ok := stack.Target(ns); ok {
			r.namespace = "REF:" + id
		} else {
			r.namespace = fmt.Sprint(ns)
		}
		list, _ := dims.([]any)
		for _, d := range list {
			n, _ := stack.Get(d, "Name")
			v, _ := stack.Get(d, "Value")
			if id, attr, ok := stack.Target(v); ok {
				v = "REF:" + id
				if attr != "" {
					v = "REF:" + id + "." + attr
				}
			}
			r.dims[fmt.Sprint(n)] = fmt.Sprint(v)
		}
		return r
	}
	for _, id := range tpl.OfType("AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		if name, ok := p["MetricName"]; ok {
			out[id] = append(out[id], conv(id, p["Namespace"], name, p["Dimensions"]))
			continue
		}
		ms, _ := p["Metrics"].([]any)
		for i, m := range ms {
			if mm, ok := stack.Get(m, "MetricStat", "Metric"); ok {
				mp := mm.(map[string]any)
				out[id] = append(out[id], conv(fmt.Sprintf("%s Metrics[%d]", id, i), mp["Namespace"], mp["MetricName"], mp["Dimensions"]))
			}
		}
		if len(out[id]) == 0 {
			t.Errorf("alarm %s names no metric", id)
		}
	}
	return out
}

func checkRef(t *testing.T, tpl *stack.Template, r metricRef) {
	t.Helper()
	dimNames := sortedKeys(r.dims)
	if r.namespace == ourNS {
		def, ok := metrics.Lookup(metrics.Name(r.name))
		if !ok {
			t.Errorf("%s: %s is not a metric sesguard publishes (internal/metrics.All)", r.where, r.name)
			return
		}
		var want []string
		for _, d := range def.Dimensions {
			want = append(want, string(d))
		}
		sort.Strings(want)
		if !slices.Equal(dimNames, want) {
			t.Errorf("%s: %s with dimensions %v; the code publishes it with %v", r.where, r.name, dimNames, want)
		}
		for d, v := range r.dims {
			if allowed, closed := metrics.AllowedValues[metrics.Dim(d)]; closed && !r.search && !slices.Contains(allowed, v) {
				t.Errorf("%s: %s=%q is not one of %v", r.where, d, v, allowed)
			}
			if d == string(metrics.DimScope) && !r.search && !slices.Contains([]string{"REF:AWS::Region", "REF:ConfigurationSetName"}, v) {
				t.Errorf("%s: Scope=%q; bouncewatch's scopes are the Region (account) and the watched configuration set", r.where, v)
			}
		}
		if !r.search && r.dims[string(metrics.DimScopeType)] == metrics.ScopeAccount && r.dims[string(metrics.DimScope)] != "REF:AWS::Region" {
			t.Errorf("%s: the account scope's Scope is the Region", r.where)
		}
		return
	}
	aws, ok := awsMetrics[r.namespace]
	if !ok {
		t.Errorf("%s: namespace %q is neither the MetricsNamespace parameter nor a known AWS namespace", r.where, r.namespace)
		return
	}
	if !slices.Contains(aws.names, r.name) {
		t.Errorf("%s: %s %s is not one of %v", r.where, r.namespace, r.name, aws.names)
	}
	if !slices.Equal(dimNames, aws.dims) {
		t.Errorf("%s: %s %s with dimensions %v, want %v", r.where, r.namespace, r.name, dimNames, aws.dims)
	}
	for _, v := range r.dims {
		id, _, _ := strings.Cut(strings.TrimPrefix(v, "REF:"), ".")
		if _, ok := tpl.Resources[id]; !strings.HasPrefix(v, "REF:") || !ok {
			t.Errorf("%s: dimension value %q is not a resource of this stack", r.where, v)
		}
	}
}

func TestDashboardAndAlarmMetricsAreOnesTheCodePublishes(t *testing.T) {
	tpl := loadTemplate(t)
	body := dashboardBody(t, tpl)
	seen := map[string]bool{}
	for i, w := range body["widgets"].([]any) {
		typ, _ := stack.Get(w, "type")
		title, _ := stack.Get(w, "properties", "title")
		where := fmt.Sprintf("dashboard widget %d %q", i, title)
		if typ != "metric" {
			continue
		}
		refs := widgetRefs(t, where, w)
		if len(refs) == 0 {
			t.Errorf("%s: no metrics", where)
		}
		for _, r := range refs {
			checkRef(t, tpl, r)
			if r.namespace == ourNS {
				seen[r.name] = true
			}
		}
	}
	for _, def := range metrics.All {
		if !seen[string(def.Name)] {
			t.Errorf("dashboard: no widget shows %s", def.Name)
		}
	}
	for _, refs := range alarmRefs(t, tpl) {
		for _, r := range refs {
			checkRef(t, tpl, r)
		}
	}
}

// TestDashboardAlarmWidgetListsEveryAlarm keeps the alarm-status widget
// complete.
func TestDashboardAlarmWidgetListsEveryAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	var listed []string
	for _, w := range dashboardBody(t, tpl)["widgets"].([]any) {
		if typ, _ := stack.Get(w, "type"); typ == "alarm" {
			arns, _ := stack.Get(w, "properties", "alarms")
			for _, a := range arns.([]any) {
				id := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprint(a), "REF:"), ".Arn")
				listed = append(listed, id)
			}
		}
	}
	if missing := diff(tpl.OfType("AWS::CloudWatch::Alarm"), listed); len(missing) > 0 {
		t.Errorf("the dashboard's alarm widget lacks %v", missing)
	}
}

// findAlarm returns the alarm whose metrics include namespace/name.
func findAlarm(t *testing.T, tpl *stack.Template, namespace, name string) string {
	t.Helper()
	var found []string
	for id, refs := range alarmRefs(t, tpl) {
		for _, r := range refs {
			if r.namespace == namespace && r.name == name {
				found = append(found, id)
				break
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one alarm on %s %s, have %v", namespace, name, found)
	}
	return found[0]
}

func closeTo(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestThresholdsMatchReputationDefaults(t *testing.T) {
	tpl := loadTemplate(t)
	def := reputation.DefaultConfig()

	// bouncewatch's environment configures exactly the defaults.
	var env map[string]any
	for _, f := range tpl.Functions() {
		if f.ID == "BouncewatchFunction" {
			env = f.Env
		}
	}
	cfg, err := reputation.ConfigFromEnv(func(k string) string {
		s, _ := env[k].(string)
		return s
	})
	if err != nil {
		t.Fatalf("bouncewatch's threshold environment: %v", err)
	}
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("bouncewatch's environment configures %+v, reputation.DefaultConfig is %+v", cfg, def)
	}

	alarms := []struct {
		namespace, metric string
		want              reputation.PPM
	}{
		{ourNS, string(metrics.BounceRate), def.Bounce.Critical},
		{ourNS, string(metrics.ComplaintRate), def.Complaint.Critical},
		// SES reviews an account at 5% bounces and 0.1% complaints: the
		// same figures as sesguard's critical defaults.
		{metrics.SESNamespace, metrics.SESBounceRate, def.Bounce.Critical},
		{metrics.SESNamespace, metrics.SESComplaintRate, def.Complaint.Critical},
	}
	for _, a := range alarms {
		id := findAlarm(t, tpl, a.namespace, a.metric)
		p := props(t, tpl, id)
		th, _ := stack.Number(p["Threshold"])
		if !closeTo(th, a.want.Fraction()) {
			t.Errorf("%s: Threshold %v, want %v (%v as a fraction)", id, th, a.want.Fraction(), a.want)
		}
		if p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("%s: ComparisonOperator %v; SES's thresholds are inclusive (\"5%% or greater\")", id, p["ComparisonOperator"])
		}
		if a.namespace == ourNS {
			// The gate: only while bouncewatch announces critical or above.
			ms, _ := p["Metrics"].([]any)
			var expr string
			for _, m := range ms {
				if e, ok := stack.Get(m, "Expression"); ok {
					expr = fmt.Sprint(e)
				}
			}
			want := "level >= " + strconv.Itoa(int(reputation.Critical))
			if !strings.Contains(expr, want) {
				t.Errorf("%s: expression %q does not gate on %q", id, expr, want)
			}
		}
	}

	// The dashboard draws the three thresholds on each rate widget.
	body := dashboardBody(t, tpl)
	for _, rate := range []struct {
		metric string
		th     reputation.Thresholds
	}{{string(metrics.BounceRate), def.Bounce}, {string(metrics.ComplaintRate), def.Complaint}} {
		found := false
		for i, w := range body["widgets"].([]any) {
			refs := widgetRefs(t, fmt.Sprint("widget ", i), w)
			if !slices.ContainsFunc(refs, func(r metricRef) bool { return r.namespace == ourNS && r.name == rate.metric }) {
				continue
			}
			found = true
			ann, _ := stack.Get(w, "properties", "annotations", "horizontal")
			var got []float64
			for _, a := range ann.([]any) {
				v, _ := stack.Get(a, "value")
				f, _ := stack.Number(v)
				got = append(got, f)
			}
			want := []float64{rate.th.Warning.Fraction(), rate.th.Critical.Fraction(), rate.th.PauseRisk.Fraction()}
			if len(got) != len(want) || !closeTo(got[0], want[0]) || !closeTo(got[1], want[1]) || !closeTo(got[2], want[2]) {
				t.Errorf("widget %d (%s): annotations %v, want %v", i, rate.metric, got, want)
			}
		}
		if !found {
			t.Errorf("no dashboard widget shows %s", rate.metric)
		}
	}
}
