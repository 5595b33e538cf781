package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

func runClassify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("classify", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per diagnosis")
	factsPath := fs.String("facts", "", "account facts JSON file (from `sesguard facts`)")
	rulesPath := fs.String("rules", "", "extra rules file to load")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	set, err := loadSet(*rulesPath)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard classify: %v\n", err)
		return exitUsage
	}
	facts, err := loadFacts(*factsPath)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard classify: %v\n", err)
		return exitUsage
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	code := exitOK
	for _, name := range files {
		data, source, err := readInput(name, stdin)
		var diags []ruleset.Diagnosis
		if err != nil {
			diags = []ruleset.Diagnosis{{Rule: ruleset.RuleInvalid, Source: name, Error: err.Error()}}
		} else {
			diags = classifyInput(set, data, facts, source)
		}
		for _, d := range diags {
			if d.Rule == ruleset.RuleInvalid {
				code = exitInvalid
			}
			if *asJSON {
				if err := enc.Encode(d); err != nil {
					fmt.Fprintf(stderr, "sesguard classify: %v\n", err)
					return exitInvalid
				}
				continue
			}
			printLine(stdout, d)
		}
	}
	return code
}

func readInput(name string, stdin io.Reader) ([]byte, string, error) {
	if name == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, ruleset.MaxInputBytes+1))
		return data, "stdin", err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, name, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, ruleset.MaxInputBytes+1))
	return data, name, err
}

func printLine(w io.Writer, d ruleset.Diagnosis) {
	if d.Rule == ruleset.RuleInvalid {
		fmt.Fprintf(w, "%s: invalid-input: %s\n", d.Source, d.Error)
		return
	}
	id := d.Identity
	if id == "" {
		id = "-"
	}
	reg := d.Region
	if reg == "" {
		reg = "-"
	}
	fmt.Fprintf(w, "%s: %s (%.0f%%) %s %s — %s\n", d.Source, d.Rule, d.Confidence*100, id, reg, d.Summary)
}

// classifyInput classifies one input; a stream of JSON lines (one event per
// line, as logs and `--scenario` files hold them) that does not decode as a
// whole is classified line by line, each line's source naming its number.
func classifyInput(set *ruleset.Set, data []byte, facts *ruleset.Facts, source string) []ruleset.Diagnosis {
	diags := set.ClassifyBytes(data, facts, source)
	if len(diags) != 1 || diags[0].Rule != ruleset.RuleInvalid {
		return diags
	}
	lines := bytes.Split(data, []byte("\n"))
	var jsonLines int
	for _, l := range lines {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			if l[0] != '{' {
				return diags
			}
			jsonLines++
		}
	}
	if jsonLines < 2 {
		return diags
	}
	diags = diags[:0]
	for i, l := range lines {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			diags = append(diags, set.ClassifyBytes(l, facts, fmt.Sprintf("%s:%d", source, i+1))...)
		}
	}
	return diags
}
