package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

func runDiagnose(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("diagnose", stderr)
	region := fs.String("region", "", "the Region the message was sent through")
	from := fs.String("from", "", "the From/Source address of the failed send")
	to := fs.String("to", "", "the recipients, comma-separated")
	returnPath := fs.String("return-path", "", "the Return-Path / MAIL FROM address")
	transport := fs.String("transport", "", "api or smtp")
	configSet := fs.String("configuration-set", "", "the configuration set the send used")
	factsPath := fs.String("facts", "", "account facts JSON `FILE`, as sesguard facts writes it (docs/facts.md)")
	live := fs.Bool("live", false, "check the account in every SES Region now (read-only calls, default credentials)")
	rulesPath := fs.String("rules", "", "extra rules file to load")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	text := strings.Join(pos, " ")
	if text == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, ruleset.MaxInputBytes))
		if err != nil {
			fmt.Fprintf(stderr, "sesguard diagnose: read stdin: %v\n", err)
			return exitUsage
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		fmt.Fprint(stderr, "sesguard diagnose: give the error text as an argument (or - for stdin)\n")
		return exitUsage
	}
	if *live && *factsPath != "" {
		fmt.Fprint(stderr, "sesguard diagnose: --live and --facts exclude each other\n")
		return exitUsage
	}
	set, err := loadSet(*rulesPath)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard diagnose: %v\n", err)
		return exitUsage
	}
	af, err := loadFacts(*factsPath)
	if err != nil {
		fmt.Fprintf(stderr, "sesguard diagnose: %v\n", err)
		return exitUsage
	}

	// Without envelope flags the text is read exactly as `sesguard
	// classify` reads a file; the flags only add what the text cannot
	// say, through the failure envelope, whose text takes the same path.
	data := []byte(text)
	if *region != "" || *from != "" || *to != "" || *returnPath != "" || *transport != "" || *configSet != "" {
		env := map[string]any{"error": text, "region": *region, "from": *from, "returnPath": *returnPath,
			"transport": *transport, "configurationSet": *configSet}
		if *to != "" {
			env["to"] = strings.Split(*to, ",")
		}
		data, _ = json.Marshal(env)
	}
	decoded := ruleset.Decode(data, "diagnose")

	if *live {
		var ids []string
		sendingRegion := *region
		for _, d := range decoded {
			if d.Failure == nil {
				continue
			}
			if sendingRegion == "" {
				sendingRegion = d.Failure.Region
			}
			for _, id := range d.Failure.Identities {
				ids = append(ids, id.Value)
			}
		}
		var code int
		if af, code = checkLive(ctx, "sesguard diagnose --live", ruleset.NormaliseRegion(sendingRegion), ids, true, stderr); af == nil {
			return code
		}
	}

	code := exitOK
	for _, d := range decoded {
		for _, diag := range set.ClassifyDecoded(d, af) {
			if diag.Rule == ruleset.RuleInvalid {
				code = exitInvalid
			}
			renderHuman(stdout, set, diag, af)
		}
	}
	return code
}

const width = 80

// renderHuman prints a diagnosis for a person in an 80-column terminal.
// Commands are kept whole on their own lines (continued with \) so they
// can be pasted.
func renderHuman(w io.Writer, set *ruleset.Set, d ruleset.Diagnosis, af *ruleset.Facts) {
	if d.Rule == ruleset.RuleInvalid {
		fmt.Fprintf(w, "Cannot read this input: %s\n", d.Error)
		return
	}
	head := fmt.Sprintf("Likely cause: %s", d.Rule)
	if d.Confidence > 0 {
		head += fmt.Sprintf(" (%.0f%% confidence)", d.Confidence*100)
	}
	if d.Abstained {
		head = fmt.Sprintf("No diagnosis: no rule reached the %.0f%% confidence floor", ruleset.ConfidenceFloor*100)
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, strings.Repeat("─", min(len([]rune(head)), width)))
	if d.Identity != "" || d.Region != "" {
		fmt.Fprintf(w, "Identity: %s   Region: %s   Severity: %s\n", orDash(d.Identity), orDash(d.Region), d.Severity)
	}
	writeWrapped(w, "", d.Summary)
	if len(d.Evidence) > 0 {
		fmt.Fprintln(w, "\nWhy:")
		for _, e := range d.Evidence {
			writeWrapped(w, "  - ", e)
		}
	}
	if len(d.Fix) > 0 {
		fmt.Fprintln(w, "\nFix:")
		for i, f := range d.Fix {
			writeStep(w, fmt.Sprintf("  %d. ", i+1), f)
		}
	}
	if len(d.Alternatives) > 0 {
		if d.Abstained {
			fmt.Fprintln(w, "\nCandidates, too weak to call, in order:")
		} else {
			fmt.Fprintln(w, "\nIf that is not it, check next, in order:")
		}
		for i, a := range d.Alternatives {
			writeWrapped(w, fmt.Sprintf("  %d. ", i+1), fmt.Sprintf("%s (%.0f%%)", a.Rule, a.Confidence*100))
			if step := set.FirstStep(a.Rule, d.Identity, d.Region); step != "" {
				writeStep(w, "     ", step)
			}
		}
	}
	if af == nil && strings.HasPrefix(d.Rule, "reject.") {
		fmt.Fprintln(w, "\nRanked without account facts. For a definite answer run the same command")
		fmt.Fprintln(w, "with --live (read-only SES calls in every Region), or --facts FILE.")
	}
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeStep prints a fix step: prose wrapped, each command (a `…` span
// that is an aws command or long) on its own line(s) so it can be pasted.
func writeStep(w io.Writer, prefix, step string) {
	indent := strings.Repeat(" ", len(prefix))
	var prose strings.Builder
	flush := func() {
		p := strings.TrimSpace(prose.String())
		prose.Reset()
		if p == "" || strings.Trim(p, ".,;:() ") == "" {
			return
		}
		writeWrapped(w, prefix, p)
		prefix = indent
	}
	for i, part := range strings.Split(step, "`") {
		isCode := i%2 == 1
		if isCode && isShellCommand(part) {
			flush()
			writeCommand(w, prefix+"$ ", indent+"    ", part)
			prefix = indent
			continue
		}
		if isCode && len(part) > 40 {
			// A configuration-file line: on a line of its own to copy,
			// without a shell prompt, and never continued with \.
			flush()
			fmt.Fprintln(w, prefix+"    "+part)
			prefix = indent
			continue
		}
		if isCode {
			prose.WriteString("`" + part + "`")
			continue
		}
		prose.WriteString(part)
	}
	flush()
}

// shellCommands are the first words of the commands fix steps give; a code
// span starting with one is a command (printed after "$ "), anything else
// a value or a configuration-file line.
var shellCommands = []string{"aws", "sesguard", "postconf", "postfix", "dig", "nslookup", "openssl", "swaks", "curl", "sam", "make", "go", "sudo"}

func isShellCommand(code string) bool {
	first, rest, _ := strings.Cut(strings.TrimSpace(code), " ")
	if rest == "" && first != "aws" {
		return false
	}
	return slices.Contains(shellCommands, first) && !strings.HasPrefix(strings.TrimSpace(rest), "=")
}

func writeCommand(w io.Writer, first, cont, cmd string) {
	line := first
	for i, word := range commandWords(cmd) {
		if strings.ContainsRune(word, '<') && !strings.ContainsAny(word, `"'`) {
			// An unquoted <placeholder> is a shell redirection if pasted
			// as it is; quoted, it is at worst a wrong value.
			word = `"` + word + `"`
		}
		if i > 0 && len(line)+1+len(word) > width-2 {
			fmt.Fprintln(w, line+" \\")
			line = cont + word
			continue
		}
		if i > 0 {
			line += " "
		}
		line += word
	}
	fmt.Fprintln(w, line)
}

// commandWords splits a command at spaces, except inside a <placeholder>
// or a quoted string: a line break there (continued with \) would paste
// as two words.
func commandWords(cmd string) []string {
	var words []string
	var cur strings.Builder
	var closer rune
	for _, r := range cmd {
		switch {
		case closer != 0:
			if r == closer {
				closer = 0
			}
		case r == '<':
			closer = '>'
		case r == '"' || r == '\'':
			closer = r
		case r == ' ' || r == '\t':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

// writeWrapped prints text wrapped at the terminal width diagnose uses.
func writeWrapped(w io.Writer, prefix, text string) {
	wrapTo(w, prefix, text, width)
}
