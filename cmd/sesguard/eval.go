package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// evalLabel is one line of a labels file (JSON lines). Exactly one of
// Input and File is set; File is relative to the labels file. An accept
// entry ending in * accepts every rule with that prefix ("delay.*").
type evalLabel struct {
	Name   string   `json:"name,omitempty"`
	Input  string   `json:"input,omitempty"`
	File   string   `json:"file,omitempty"`
	Expect string   `json:"expect"`
	Accept []string `json:"accept,omitempty"`
	// Recipient picks the diagnosis for that identity; without it the
	// first diagnosis is scored.
	Recipient string `json:"recipient,omitempty"`
	// Index picks the index-th diagnosis (from 0) when the labels name
	// recipients by position, as Sisimai's test tables do.
	Index *int `json:"index,omitempty"`
}

// evalCase is one scored expectation.
type evalCase struct {
	name      string
	data      []byte
	facts     *ruleset.Facts
	expect    string
	accept    []string
	recipient string
	// index scores the index-th diagnosis (a corpus .expect file lists
	// every diagnosis of an input); -1 means by recipient or the first.
	index int
	err   error // the case could not be loaded
}

type evalResult struct {
	c   *evalCase
	got string
	ok  bool
}

const maxLabelLine = 4 << 20

func runEval(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("eval", stderr)
	var labels, corpora multiFlag
	fs.Var(&labels, "labels", "labels file, JSON lines {\"input\"|\"file\", \"expect\", \"accept\", \"recipient\"} (repeatable)")
	fs.Var(&corpora, "corpus", "corpus directory laid out <rule-id>/<case> (repeatable)")
	rulesPath := fs.String("rules", "", "extra rules file to load")
	worst := fs.Int("worst", 15, "how many of the worst confusions to list")
	minPct := fs.Float64("min", 0, "exit 1 when accuracy (percent) is below this")
	verbose := fs.Bool("v", false, "list every miss")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	for _, p := range pos {
		// A bare argument: a directory is a corpus, a file a labels file.
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			corpora = append(corpora, p)
		} else {
			labels = append(labels, p)
		}
	}
	if len(labels)+len(corpora) == 0 {
		fmt.Fprint(stderr, "sesguard eval: give --labels FILE and/or --corpus DIR\n")
		return exitUsage
	}
	set, err := loadSet(*rulesPath)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard eval: %v\n", err)
		return exitUsage
	}
	var cases []*evalCase
	for _, l := range labels {
		cs, err := loadLabels(l)
		if err != nil {
			fmt.Fprintf(stderr, "sesguard eval: %v\n", err)
			return exitUsage
		}
		cases = append(cases, cs...)
	}
	for _, d := range corpora {
		cs, err := loadCorpusDir(d)
		if err != nil {
			fmt.Fprintf(stderr, "sesguard eval: %v\n", err)
			return exitUsage
		}
		cases = append(cases, cs...)
	}
	if len(cases) == 0 {
		fmt.Fprint(stderr, "sesguard eval: no labelled cases found\n")
		return exitUsage
	}
	results := scoreCases(set, cases)
	acc := printEval(stdout, results, *worst, *verbose)
	if acc < *minPct {
		fmt.Fprintf(stderr, "sesguard eval: accuracy %.1f%% is below --min %.1f%%\n", acc, *minPct)
		return exitInvalid
	}
	return exitOK
}

// loadLabels reads a labels file as a stream: any number of lines, each at
// most maxLabelLine bytes.
func loadLabels(path string) ([]*evalCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir := filepath.Dir(path)
	var cases []*evalCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLabelLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var l evalLabel
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if l.Expect == "" {
			return nil, fmt.Errorf("%s:%d: field \"expect\" is missing", path, n)
		}
		if (l.Input == "") == (l.File == "") {
			return nil, fmt.Errorf("%s:%d: give exactly one of \"input\" and \"file\"", path, n)
		}
		c := &evalCase{expect: l.Expect, accept: l.Accept, recipient: l.Recipient, index: -1, name: l.Name}
		if l.Index != nil {
			if *l.Index < 0 {
				return nil, fmt.Errorf("%s:%d: field \"index\" is negative", path, n)
			}
			c.index = *l.Index
		}
		if l.Input != "" {
			c.data = []byte(l.Input)
			if c.name == "" {
				c.name = fmt.Sprintf("%s:%d", path, n)
			}
		} else {
			p := l.File
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			if c.name == "" {
				c.name = l.File
				if l.Recipient != "" {
					c.name += " " + l.Recipient
				}
			}
			c.data, c.err = os.ReadFile(p)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: a line is longer than %d bytes", path, n+1, maxLabelLine)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return cases, nil
}

// corpusExts are the case files of a corpus directory.
var corpusExts = map[string]bool{".json": true, ".txt": true, ".eml": true}

// loadCorpusDir reads a corpus laid out as <rule-id>/<case>: the directory
// names the expected rule of the first diagnosis; a <case>.expect file
// lists the rule of every diagnosis in order; <case>.facts.json gives
// account facts.
func loadCorpusDir(root string) ([]*evalCase, error) {
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var cases []*evalCase
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			name := f.Name()
			ext := filepath.Ext(name)
			if f.IsDir() || !corpusExts[ext] || strings.HasSuffix(name, ".facts.json") {
				continue
			}
			base := strings.TrimSuffix(name, ext)
			dir := filepath.Join(root, d.Name())
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			var facts *ruleset.Facts
			if fb, err := os.ReadFile(filepath.Join(dir, base+".facts.json")); err == nil {
				if facts, err = ruleset.ParseFacts(fb); err != nil {
					return nil, fmt.Errorf("%s: %v", filepath.Join(dir, base+".facts.json"), err)
				}
			}
			caseName := d.Name() + "/" + name
			want := []string{d.Name()}
			index := -1
			if eb, err := os.ReadFile(filepath.Join(dir, base+".expect")); err == nil {
				want = want[:0]
				for _, line := range strings.Split(string(eb), "\n") {
					if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
						want = append(want, line)
					}
				}
				index = 0
			}
			for i, w := range want {
				c := &evalCase{name: caseName, data: data, facts: facts, expect: w, index: -1}
				if index >= 0 {
					c.index = i
					c.name = fmt.Sprintf("%s[%d]", caseName, i)
				}
				cases = append(cases, c)
			}
		}
	}
	return cases, nil
}

func scoreCases(set *ruleset.Set, cases []*evalCase) []evalResult {
	results := make([]evalResult, 0, len(cases))
	var lastData []byte
	var lastFacts *ruleset.Facts
	var diags []ruleset.Diagnosis
	for _, c := range cases {
		got := "(unreadable)"
		if c.err == nil {
			// Cases of one corpus file with an .expect share one classification.
			if lastData == nil || !bytes.Equal(lastData, c.data) || lastFacts != c.facts {
				diags = classifyInput(set, c.data, c.facts, c.name)
				lastData, lastFacts = c.data, c.facts
			}
			got = pickDiagnosis(diags, c)
		}
		ok := got == c.expect
		for _, a := range c.accept {
			ok = ok || got == a || strings.HasSuffix(a, "*") && strings.HasPrefix(got, a[:len(a)-1])
		}
		results = append(results, evalResult{c: c, got: got, ok: ok})
	}
	return results
}

func pickDiagnosis(diags []ruleset.Diagnosis, c *evalCase) string {
	switch {
	case c.index >= 0:
		if c.index < len(diags) {
			return diags[c.index].Rule
		}
		return "(missing)"
	case c.recipient != "":
		for _, d := range diags {
			if strings.EqualFold(d.Identity, c.recipient) {
				return d.Rule
			}
		}
		return "(missing)"
	case len(diags) > 0:
		return diags[0].Rule
	}
	return "(missing)"
}

// family is the part of a rule ID before its first dot (outcomes such as
// unknown are their own family).
func family(rule string) string {
	if i := strings.IndexByte(rule, '.'); i > 0 {
		return rule[:i]
	}
	return rule
}

// printEval prints accuracy overall and by expected family, the family
// confusion matrix and the worst rule confusions; it returns the accuracy
// in percent.
func printEval(w io.Writer, results []evalResult, worst int, verbose bool) float64 {
	type tally struct{ ok, n int }
	byFam := map[string]*tally{}
	matrix := map[[2]string]int{}
	famSet := map[string]bool{}
	confusions := map[[2]string][]string{}
	total := tally{}
	for _, r := range results {
		ef, gf := family(r.c.expect), family(r.got)
		famSet[ef], famSet[gf] = true, true
		t := byFam[ef]
		if t == nil {
			t = &tally{}
			byFam[ef] = t
		}
		t.n++
		total.n++
		matrix[[2]string{ef, gf}]++
		if r.ok {
			t.ok++
			total.ok++
			continue
		}
		k := [2]string{r.c.expect, r.got}
		confusions[k] = append(confusions[k], r.c.name)
	}
	pct := func(t tally) float64 {
		if t.n == 0 {
			return 0
		}
		return 100 * float64(t.ok) / float64(t.n)
	}
	fmt.Fprintf(w, "accuracy: %.1f%% (%d of %d cases)\n\n", pct(total), total.ok, total.n)

	fams := make([]string, 0, len(famSet))
	for f := range famSet {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	fmt.Fprintln(w, "by expected family:")
	for _, f := range fams {
		if t := byFam[f]; t != nil {
			fmt.Fprintf(w, "  %-16s %6.1f%%  %5d of %5d\n", f, pct(*t), t.ok, t.n)
		}
	}

	fmt.Fprintln(w, "\nfamily confusion matrix (rows: expected, columns: got):")
	short := func(f string) string {
		if len(f) > 9 {
			return f[:9]
		}
		return f
	}
	fmt.Fprintf(w, "  %-16s", "")
	for _, f := range fams {
		fmt.Fprintf(w, " %9s", short(f))
	}
	fmt.Fprintln(w)
	for _, ef := range fams {
		if byFam[ef] == nil {
			continue
		}
		fmt.Fprintf(w, "  %-16s", ef)
		for _, gf := range fams {
			if n := matrix[[2]string{ef, gf}]; n > 0 {
				fmt.Fprintf(w, " %9d", n)
			} else {
				fmt.Fprintf(w, " %9s", ".")
			}
		}
		fmt.Fprintln(w)
	}

	type conf struct {
		k     [2]string
		cases []string
	}
	list := make([]conf, 0, len(confusions))
	for k, v := range confusions {
		list = append(list, conf{k, v})
	}
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].cases) != len(list[j].cases) {
			return len(list[i].cases) > len(list[j].cases)
		}
		if list[i].k[0] != list[j].k[0] {
			return list[i].k[0] < list[j].k[0]
		}
		return list[i].k[1] < list[j].k[1]
	})
	if len(list) > 0 {
		fmt.Fprintln(w, "\nworst confusions (expected → got: count, e.g.):")
		for i, c := range list {
			if i == worst {
				fmt.Fprintf(w, "  … %d more\n", len(list)-worst)
				break
			}
			fmt.Fprintf(w, "  %s → %s: %d, e.g. %s\n", c.k[0], c.k[1], len(c.cases), c.cases[0])
		}
	}
	if verbose {
		fmt.Fprintln(w, "\nmisses:")
		for _, r := range results {
			if !r.ok {
				fmt.Fprintf(w, "  %s: want %s, got %s\n", r.c.name, r.c.expect, r.got)
			}
		}
	}
	return pct(total)
}
