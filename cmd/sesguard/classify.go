package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

func runClassify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("classify", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per diagnosis")
	factsPath := fs.String("facts", "", "account facts JSON `FILE`, as sesguard facts writes it (docs/facts.md)")
	rulesPath := fs.String("rules", "", "extra rules file to load")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
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
	emit := func(diags []ruleset.Diagnosis) error {
		for _, d := range diags {
			if d.Rule == ruleset.RuleInvalid {
				code = exitInvalid
			}
			if *asJSON {
				if err := enc.Encode(diagnosisJSON{d, d.Confidence}); err != nil {
					return err
				}
				continue
			}
			printLine(stdout, d)
		}
		return nil
	}
	for _, name := range files {
		if err := classifyPath(set, facts, name, stdin, emit); err != nil {
			fmt.Fprintf(stderr, "sesguard classify: %v\n", err)
			return exitInvalid
		}
	}
	return code
}

// emitFunc receives each input's diagnoses as they are made; an error
// (stdout closed) stops the run.
type emitFunc func([]ruleset.Diagnosis) error

func invalid(source string, err error) []ruleset.Diagnosis {
	return []ruleset.Diagnosis{{Rule: ruleset.RuleInvalid, Severity: ruleset.SeverityWarning, Source: source, Error: err.Error(), Summary: "the input could not be decoded"}}
}

// classifyPath classifies a file, stdin ("-"), or a directory: a Maildir
// (its cur/ and new/ messages) or any folder of inputs, walked in name order.
func classifyPath(set *ruleset.Set, facts *ruleset.Facts, name string, stdin io.Reader, emit emitFunc) error {
	if name == "-" {
		return classifyStream(set, facts, stdin, "stdin", emit)
	}
	st, err := os.Stat(name)
	if err != nil {
		return emit(invalid(name, err))
	}
	if !st.IsDir() {
		return classifyFile(set, facts, name, emit)
	}
	return filepath.WalkDir(name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return emit(invalid(p, err))
		}
		base := d.Name()
		if p != name && strings.HasPrefix(base, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			// A Maildir's tmp/ holds messages still being written.
			if base == "tmp" && isMaildir(filepath.Dir(p)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return classifyFile(set, facts, p, emit)
	})
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

func classifyFile(set *ruleset.Set, facts *ruleset.Facts, name string, emit emitFunc) error {
	f, err := os.Open(name)
	if err != nil {
		return emit(invalid(name, err))
	}
	defer f.Close()
	return classifyStream(set, facts, f, name, emit)
}

// classifyStream classifies one input of any size without holding more
// than one record in memory: an mbox file message by message, JSON lines
// line by line (each line at most ruleset.MaxInputBytes; a longer line is
// reported and skipped, the lines after it still read), anything else as
// one input up to its limit.
func classifyStream(set *ruleset.Set, facts *ruleset.Facts, r io.Reader, source string, emit emitFunc) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(5)
	if string(head) == "From " {
		return classifyMbox(set, facts, br, source, emit)
	}
	first, tooLong, err := readLine(br, ruleset.MaxInputBytes)
	if tooLong {
		if e := emit(invalid(source+":1", fmt.Errorf("line 1 is longer than %d bytes, the limit for one JSON line or input; skipped", ruleset.MaxInputBytes))); e != nil {
			return e
		}
		if err == io.EOF || !moreJSONLines(br) {
			return nil
		}
		return classifyJSONLines(set, facts, br, nil, source, emit)
	}
	if err != nil && err != io.EOF {
		return emit(invalid(source, err))
	}
	if !tooLong && err == nil {
		if t := bytes.TrimSpace(first); len(t) > 0 && t[0] == '{' && json.Valid(t) && moreJSONLines(br) {
			return classifyJSONLines(set, facts, br, first, source, emit)
		}
	}
	if err == nil {
		first = append(first, '\n') // readLine dropped it; the rest follows
	}
	// One input: the first line and the rest, up to the limit.
	limit := int64(ruleset.MaxEmailBytes)
	rest, rerr := io.ReadAll(io.LimitReader(br, limit+1-int64(len(first))))
	if rerr != nil {
		return emit(invalid(source, rerr))
	}
	data := append(first, rest...)
	if int64(len(data)) > limit {
		return emit(invalid(source, fmt.Errorf("input is larger than %d bytes (the limit for one email; %d for any other input)", limit, ruleset.MaxInputBytes)))
	}
	return emit(classifyInput(set, data, facts, source))
}

// moreJSONLines peeks past blank lines for another JSON object line.
func moreJSONLines(br *bufio.Reader) bool {
	for n := 1; n <= 4096; n *= 4 {
		b, _ := br.Peek(n)
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 {
			return t[0] == '{'
		}
		if len(b) < n {
			return false
		}
	}
	return false
}

// readLine reads one line (without its newline). A line over max bytes is
// consumed to its end and reported as tooLong, its content dropped.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, e := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		if e == nil {
			line = bytes.TrimSuffix(line, []byte("\n"))
		}
		if e == nil && len(line) > max {
			tooLong, line = true, nil
		}
		return line, tooLong, e
	}
}

func classifyJSONLines(set *ruleset.Set, facts *ruleset.Facts, br *bufio.Reader, first []byte, source string, emit emitFunc) error {
	n := 1
	line := first
	for {
		if t := bytes.TrimSpace(line); len(t) > 0 {
			if err := emit(set.ClassifyBytes(t, facts, fmt.Sprintf("%s:%d", source, n))); err != nil {
				return err
			}
		}
		var tooLong bool
		var err error
		line, tooLong, err = readLine(br, ruleset.MaxInputBytes)
		n++
		if tooLong {
			if e := emit(invalid(fmt.Sprintf("%s:%d", source, n), fmt.Errorf("line %d is longer than %d bytes, the limit for one JSON line; skipped", n, ruleset.MaxInputBytes))); e != nil {
				return e
			}
			line = nil
		}
		if err == io.EOF {
			if t := bytes.TrimSpace(line); len(t) > 0 {
				return emit(set.ClassifyBytes(t, facts, fmt.Sprintf("%s:%d", source, n)))
			}
			return nil
		}
		if err != nil {
			return emit(invalid(fmt.Sprintf("%s:%d", source, n), err))
		}
	}
}

// classifyMbox reads an mbox file message by message (From_ lines after a
// blank line separate them).
func classifyMbox(set *ruleset.Set, facts *ruleset.Facts, br *bufio.Reader, source string, emit emitFunc) error {
	var msg []byte
	n := 0
	tooBig := false
	prevBlank := true
	flush := func() error {
		defer func() { msg, tooBig = msg[:0], false }()
		src := fmt.Sprintf("%s#%d", source, n)
		n++
		if tooBig {
			return emit(invalid(src, fmt.Errorf("message is larger than %d bytes, the limit for one email; skipped", ruleset.MaxEmailBytes)))
		}
		if len(bytes.TrimSpace(msg)) == 0 {
			return nil
		}
		return emit(set.ClassifyBytes(msg, facts, src))
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Part of a long line: never a From_ line boundary by itself.
			if !tooBig {
				msg = append(msg, line...)
			}
			prevBlank = false
			continue
		}
		if prevBlank && bytes.HasPrefix(line, []byte("From ")) && len(msg) > 0 {
			if e := flush(); e != nil {
				return e
			}
		}
		if !tooBig {
			msg = append(msg, line...)
			if len(msg) > ruleset.MaxEmailBytes {
				tooBig, msg = true, msg[:0]
			}
		}
		prevBlank = len(bytes.TrimSpace(line)) == 0
		if err != nil {
			if err != io.EOF {
				return emit(invalid(source, err))
			}
			return flush()
		}
	}
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

// diagnosisJSON is the Diagnosis contract (docs/diagnosis.md) as printed:
// confidence is always present, 0 included (invalid-input, unknown), so a
// consumer never has to tell "absent" from "none". The outer field wins
// over the embedded one of the same JSON name.
type diagnosisJSON struct {
	ruleset.Diagnosis
	Confidence float64 `json:"confidence"`
}
