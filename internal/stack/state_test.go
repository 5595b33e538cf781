package stack_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sesguard/sesguard/internal/stack"
	"github.com/sesguard/sesguard/internal/state"
)

// TestStateTable: the table is the one package state creates (key schema,
// attribute types, on demand), with TTL on state's attribute, SSE on and
// point-in-time recovery off unless asked for; every function is told its
// name through state.EnvTable.
func TestStateTable(t *testing.T) {
	for _, pitr := range []string{"false", "true"} {
		tpl := resolved(t, map[string]string{"StatePointInTimeRecovery": pitr})
		p := props(t, tpl, "StateTable")
		want := state.TableInput("x")
		if p["BillingMode"] != string(want.BillingMode) {
			t.Errorf("BillingMode = %v, want %s", p["BillingMode"], want.BillingMode)
		}
		var defs, keys [][2]string
		for _, d := range p["AttributeDefinitions"].([]any) {
			m := d.(map[string]any)
			defs = append(defs, [2]string{m["AttributeName"].(string), m["AttributeType"].(string)})
		}
		for _, k := range p["KeySchema"].([]any) {
			m := k.(map[string]any)
			keys = append(keys, [2]string{m["AttributeName"].(string), m["KeyType"].(string)})
		}
		var wantDefs, wantKeys [][2]string
		for _, d := range want.AttributeDefinitions {
			wantDefs = append(wantDefs, [2]string{aws.ToString(d.AttributeName), string(d.AttributeType)})
		}
		for _, k := range want.KeySchema {
			wantKeys = append(wantKeys, [2]string{aws.ToString(k.AttributeName), string(k.KeyType)})
		}
		if !slices.Equal(defs, wantDefs) || !slices.Equal(keys, wantKeys) {
			t.Errorf("table attributes %v keys %v, want %v %v (state.TableInput)", defs, keys, wantDefs, wantKeys)
		}
		if a, _ := stack.Get(p, "TimeToLiveSpecification", "AttributeName"); a != state.AttrTTL {
			t.Errorf("TTL attribute = %v, want %s", a, state.AttrTTL)
		}
		if e, _ := stack.Get(p, "TimeToLiveSpecification", "Enabled"); e != true {
			t.Errorf("TTL Enabled = %v", e)
		}
		if e, _ := stack.Get(p, "SSESpecification", "SSEEnabled"); e != true {
			t.Errorf("SSEEnabled = %v", e)
		}
		if e, _ := stack.Get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); e != (pitr == "true") {
			t.Errorf("StatePointInTimeRecovery=%s: PointInTimeRecoveryEnabled = %v", pitr, e)
		}
	}
	if d := loadTemplate(t).Parameters["StatePointInTimeRecovery"].Default; d != "false" {
		t.Errorf("StatePointInTimeRecovery default = %v, want false", d)
	}
	for _, f := range loadTemplate(t).Functions() {
		if !equalJSON(f.Env[state.EnvTable], ref("StateTable")) {
			t.Errorf("%s: %s = %v, want Ref StateTable", f.ID, state.EnvTable, f.Env[state.EnvTable])
		}
	}
}

// TestTriageQueueSource: triage reads through SQS with bounded concurrency
// (a parameter, default 5) and a short batching window (alerts stay fast).
func TestTriageQueueSource(t *testing.T) {
	tpl := loadTemplate(t)
	var src *stack.QueueSource
	for _, qs := range tpl.QueueSources() {
		if qs.Function == "TriageFunction" {
			src = &qs
		}
	}
	if src == nil {
		t.Fatal("TriageFunction has no SQS event source")
	}
	if src.BatchingWindowSeconds < 1 || src.BatchingWindowSeconds > 2 {
		t.Errorf("MaximumBatchingWindowInSeconds = %d, want 1 or 2 (alerts at most 2 s later)", src.BatchingWindowSeconds)
	}
	evs := props(t, tpl, "TriageFunction")["Events"].(map[string]any)
	var mc any
	for _, ev := range evs {
		if typ, _ := stack.Get(ev, "Type"); typ == "SQS" {
			mc, _ = stack.Get(ev, "Properties", "ScalingConfig", "MaximumConcurrency")
		}
	}
	if !equalJSON(mc, ref("TriageMaxConcurrency")) {
		t.Errorf("ScalingConfig.MaximumConcurrency = %v, want Ref TriageMaxConcurrency", mc)
	}
	p := tpl.Parameters["TriageMaxConcurrency"]
	if d, _ := stack.Number(p.Default); d != 5 {
		t.Errorf("TriageMaxConcurrency default = %v, want 5", p.Default)
	}
	subs, err := tpl.Subscriptions()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.Endpoint == src.Queue && s.RawMessageDelivery {
			t.Errorf("%s: raw message delivery loses the topic ARN (the Region) triage reads from the envelope", s.Name)
		}
	}
}
