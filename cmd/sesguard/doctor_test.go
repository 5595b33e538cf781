package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/internal/doctor"
	"github.com/sesguard/sesguard/internal/localstack"
)

func TestDoctorUsage(t *testing.T) {
	for _, args := range [][]string{
		{"doctor", "extra"},
		{"doctor", "--region", "us-east-1", "--all-regions"},
		{"doctor", "--probe"},
		{"doctor", "--yes"},
		{"doctor", "--no-such-flag"},
	} {
		if code, _, errs := runCLI(t, "", args...); code != exitUsage || errs == "" {
			t.Errorf("%v: exit %d, stderr %q; want %d and a message", args, code, errs, exitUsage)
		}
	}
}

func TestDoctorListAndPolicy(t *testing.T) {
	code, out, _ := runCLI(t, "", "doctor", "--list-checks")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != exitOK || len(lines) != len(doctor.Checks) || len(lines) < 20 {
		t.Errorf("--list-checks: exit %d, %d lines", code, len(lines))
	}
	code, out, _ = runCLI(t, "", "doctor", "--print-policy")
	var doc struct{ Statement []struct{ Action []string } }
	if err := json.Unmarshal([]byte(out), &doc); code != exitOK || err != nil || !slices.Equal(doc.Statement[0].Action, doctor.IAMActions()) {
		t.Errorf("--print-policy: exit %d, %v: %s", code, err, out)
	}
}

// TestDoctorAgainstLocalStack runs the command on the local stack's
// wiring: exit 0 and one JSON document when correct, 1 when mis-wired.
func TestDoctorAgainstLocalStack(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := localstack.Up(ctx, localstack.Options{Template: tmpl, WiringOnly: true,
		Bootstraps: map[string]string{"TriageFunction": "", "BouncewatchFunction": ""}})
	if st != nil {
		defer st.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.WireForDoctor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orig := doctorAWS
	defer func() { doctorAWS = orig }()
	doctorAWS = func(context.Context) (doctor.ClientsFor, string, error) { return w.Clients(), w.Region, nil }

	code, out, errs := runCLI(t, "", "doctor", "--stack", localstack.DoctorStackName, "--json")
	var rep doctor.Report
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("not one JSON document (%v): %s", err, out)
	}
	if code != exitOK || rep.Counts[doctor.Fail] != 0 || rep.Counts[doctor.Pass] < 30 {
		t.Errorf("correct stack: exit %d, counts %v, stderr %s", code, rep.Counts, errs)
	}
	m, _ := localstack.LookupMiswire("sandbox")
	if err := w.Apply(ctx, &m); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "", "doctor", "--stack", localstack.DoctorStackName)
	if code != exitInvalid || !strings.Contains(out, "FAIL doctor.account.production-access") {
		t.Errorf("sandbox: exit %d:\n%s", code, out)
	}
}

func TestLocalMiswire(t *testing.T) {
	code, out, _ := runCLI(t, "", "local", "--miswire", "list")
	if code != exitOK || strings.Count(out, "\n") != len(localstack.Miswires) {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	if code, _, errs := runCLI(t, "", "local", "--miswire", "no-such"); code != exitUsage || !strings.Contains(errs, "no-event-destination") {
		t.Errorf("unknown: exit %d, %s", code, errs)
	}
	code, out, errs := runCLI(t, "", "local", "--miswire", "all")
	if code != exitOK || strings.Count(out, ": OK\n") != len(localstack.Miswires)+1 {
		t.Errorf("all: exit %d, stderr %s:\n%s", code, errs, out)
	}
}
