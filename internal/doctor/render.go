package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes the report as one JSON document (docs/doctor.md).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

var marks = map[Status]string{Pass: "ok  ", Warn: "WARN", Fail: "FAIL", Skipped: "skip"}

// WriteText writes the report for a terminal: per Region, failures and
// warnings in full (evidence, fix), passes and skips one line each.
func WriteText(w io.Writer, r *Report) {
	region := ""
	for _, res := range r.Results {
		if res.Region != region {
			region = res.Region
			fmt.Fprintf(w, "== %s\n", region)
		}
		fmt.Fprintf(w, "%s %s  %s: %s\n", marks[res.Status], res.Check, res.Subject, res.Summary)
		if res.Status == Fail || res.Status == Warn {
			for _, ev := range res.Evidence {
				fmt.Fprintf(w, "       saw: %s\n", ev)
			}
			for _, f := range res.Fix {
				fmt.Fprintf(w, "       fix: %s\n", f)
			}
		}
	}
	fmt.Fprintf(w, "\n%d pass, %d warn, %d fail, %d skipped\n", r.Counts[Pass], r.Counts[Warn], r.Counts[Fail], r.Counts[Skipped])
}

// ChecksMarkdown is the table of checks docs/doctor.md holds between its
// checks markers.
func ChecksMarkdown() string {
	var b strings.Builder
	b.WriteString("| ID | checks that | IAM actions |\n|---|---|---|\n")
	for _, c := range Checks {
		acts := "DNS only"
		if len(c.Actions) > 0 {
			acts = "`" + strings.Join(c.Actions, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.ID, c.Title, acts)
	}
	return b.String()
}

// WriteList writes --list-checks.
func WriteList(w io.Writer) {
	for _, c := range Checks {
		fmt.Fprintf(w, "%-40s %s\n", c.ID, c.Title)
	}
}
