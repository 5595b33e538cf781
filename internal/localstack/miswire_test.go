package localstack

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/sesguard/sesguard/internal/doctor"
)

// TestMiswires runs doctor against one local stack: correctly wired (no
// failure), then with each mis-wiring applied in turn (exactly that
// problem).
func TestMiswires(t *testing.T) {
	tmpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, w, err := UpForDoctor(ctx, tmpl)
	if st != nil {
		defer st.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	check := func(m *Miswire) {
		t.Helper()
		if err := w.Apply(ctx, m); err != nil {
			t.Fatal(err)
		}
		rep := doctor.Run(ctx, w.Clients(), w.Options())
		if err := Judge(rep, m); err != nil {
			var b bytes.Buffer
			doctor.WriteText(&b, rep)
			t.Errorf("%v\n%s", err, b.String())
		}
	}
	t.Run("correct", func(t *testing.T) { check(nil) })
	for i := range Miswires {
		t.Run(Miswires[i].Name, func(t *testing.T) { check(&Miswires[i]) })
	}
	// Undone: the stack is correct again.
	t.Run("reset", func(t *testing.T) { check(nil) })
}

func TestJudge(t *testing.T) {
	m := &Miswire{Check: "doctor.a.b", Want: doctor.Fail}
	rep := &doctor.Report{Results: []doctor.Result{{Check: "doctor.a.b", Status: doctor.Fail}, {Check: "doctor.c.d", Status: doctor.Warn}}}
	if err := Judge(rep, m); err != nil {
		t.Errorf("right report refused: %v", err)
	}
	rep.Results = append(rep.Results, doctor.Result{Check: "doctor.c.d", Status: doctor.Fail})
	if Judge(rep, m) == nil {
		t.Error("a second failure accepted")
	}
	if Judge(&doctor.Report{Results: []doctor.Result{{Check: "doctor.a.b", Status: doctor.Warn}}}, m) == nil {
		t.Error("a warning accepted for a failure")
	}
	if Judge(&doctor.Report{}, nil) != nil {
		t.Error("an empty report of a correct stack refused")
	}
}

// BenchmarkDoctorLocal is one doctor run against the local stack (kumo,
// the SES endpoint, the stand-ins), the wall time `sesguard local
// --miswire` prints per run.
func BenchmarkDoctorLocal(b *testing.B) {
	tmpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st, w, err := UpForDoctor(ctx, tmpl)
	if st != nil {
		defer st.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	cl, o := w.Clients(), w.Options()
	for b.Loop() {
		if rep := doctor.Run(ctx, cl, o); rep.Failed() {
			b.Fatal("the correct stack fails")
		}
	}
}

// TestMiswireList keeps the mis-wirings in the list, each judged
// by a check doctor has.
func TestMiswireList(t *testing.T) {
	for _, n := range []string{"no-event-destination", "destination-without-bounce", "subscription-pending", "topic-policy-without-ses",
		"aws-managed-key", "raw-delivery", "queue-policy-missing", "stack-in-other-region", "sandbox", "feedback-forwarding"} {
		if _, ok := LookupMiswire(n); !ok {
			t.Errorf("no mis-wiring %s", n)
		}
	}
	seen := map[string]bool{}
	for _, m := range Miswires {
		if _, ok := doctor.Lookup(m.Check); !ok || seen[m.Name] || (m.Want != doctor.Fail && m.Want != doctor.Warn) {
			t.Errorf("%s: check %s, want %s (or a duplicate name)", m.Name, m.Check, m.Want)
		}
		seen[m.Name] = true
	}
}
