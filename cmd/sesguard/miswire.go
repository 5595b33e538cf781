package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sesguard/sesguard/internal/doctor"
	"github.com/sesguard/sesguard/internal/localstack"
)

func localMiswires() []string {
	var out []string
	for _, m := range localstack.Miswires {
		out = append(out, m.Name)
	}
	return out
}

// runMiswire is `sesguard local --miswire NAME|list|all|none`: the local
// stack's wiring (no bootstrap runs: doctor only reads), the named
// mis-wiring applied, then doctor. It exits 0 only when doctor reports
// exactly that problem (none: no failure at all); all runs every one on one
// stack, applying and undoing each.
func runMiswire(ctx context.Context, name string, stdout, stderr io.Writer) int {
	if name == "list" {
		for _, m := range localstack.Miswires {
			fmt.Fprintf(stdout, "%-28s %s (doctor: %s %s)\n", m.Name, m.Problem, m.Check, m.Want)
		}
		return exitOK
	}
	var todo []*localstack.Miswire
	switch name {
	case "all":
		todo = append(todo, nil)
		for i := range localstack.Miswires {
			todo = append(todo, &localstack.Miswires[i])
		}
	case "none":
		todo = append(todo, nil)
	default:
		m, ok := localstack.LookupMiswire(name)
		if !ok {
			fmt.Fprintln(stderr, "sesguard local:", errUnknownMiswire(name))
			return exitUsage
		}
		todo = append(todo, &m)
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(stderr, "sesguard local:", err)
		return exitInvalid
	}
	tmpl, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		fmt.Fprintln(stderr, "sesguard local:", err)
		return exitInvalid
	}
	began := time.Now()
	st, w, err := localstack.UpForDoctor(ctx, tmpl)
	if st != nil {
		defer st.Close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "sesguard local:", err)
		return exitInvalid
	}
	fmt.Fprintf(stdout, "local stack wiring from template.yaml (kumo at %s, no bootstraps) in %s\n", st.Kumo.URL, since(began))
	code := exitOK
	for _, m := range todo {
		label, want := "none (correctly wired)", "no failure"
		if m != nil {
			label, want = m.Name+": "+m.Problem, m.Check+" "+string(m.Want)+" and nothing else failing"
		}
		if err := w.Apply(ctx, m); err != nil {
			fmt.Fprintln(stderr, "sesguard local:", err)
			return exitInvalid
		}
		fmt.Fprintf(stdout, "\n### miswire %s\n$ sesguard doctor --region %s --stack %s\n", label, w.Region, localstack.DoctorStackName)
		t0 := time.Now()
		rep := doctor.Run(ctx, w.Clients(), w.Options())
		took := since(t0)
		doctor.WriteText(stdout, rep)
		verdict := "OK"
		if err := localstack.Judge(rep, m); err != nil {
			verdict = "WRONG: " + err.Error()
			code = exitInvalid
		}
		fmt.Fprintf(stdout, "doctor ran in %s; expected %s: %s\n", took, want, verdict)
	}
	return code
}
