package ruleset

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// ruleSpec is one rule as written in a rules file. rules/FORMAT.md is its
// documentation; keep the two in step.
type ruleSpec struct {
	ID         string   `yaml:"id"`
	Severity   Severity `yaml:"severity"`
	Confidence float64  `yaml:"confidence"`
	Prior      float64  `yaml:"prior"`

	Kinds             []Kind   `yaml:"kinds"`
	EventTypes        []string `yaml:"eventTypes"`
	BounceTypes       []string `yaml:"bounceTypes"`
	BounceSubTypes    []string `yaml:"bounceSubTypes"`
	FeedbackTypes     []string `yaml:"feedbackTypes"`
	ComplaintSubTypes []string `yaml:"complaintSubTypes"`
	DelayTypes        []string `yaml:"delayTypes"`
	Roles             []Role   `yaml:"roles"`
	Transports        []string `yaml:"transports"`
	Delegated         *bool    `yaml:"delegated"`
	ConfigurationSet  *bool    `yaml:"configurationSet"`

	Phrases    []string `yaml:"phrases"`
	Patterns   []string `yaml:"patterns"`
	Statuses   []string `yaml:"statuses"`
	ReplyCodes []string `yaml:"replyCodes"`
	NotPhrases []string `yaml:"notPhrases"`
	// GenericPhrases are those of Phrases that many causes share
	// ("recipient address rejected", "access denied"): evidence of half
	// weight (FORMAT.md, "Ranking").
	GenericPhrases []string `yaml:"genericPhrases"`

	IdentityPatterns []string `yaml:"identityPatterns"`
	Facts            []string `yaml:"facts"`
	// NotAlternatives are rule IDs this rule rules out when it is the
	// answer (their advice would contradict it): left out of its
	// alternatives.
	NotAlternatives []string `yaml:"notAlternatives"`

	Suppress string `yaml:"suppress"`
	Summary  string `yaml:"summary"`
	// Hypothesis is the summary while the rule's facts are not all known
	// (ranked by its prior): worded as an if, with what to check.
	Hypothesis string   `yaml:"hypothesis"`
	Fix        []string `yaml:"fix"`

	line int
	// regexps returns Patterns and IdentityPatterns compiled; nil if the
	// rule has none. validate compiles them (that is where a bad one is
	// reported); a rule from the snapshot compiles them on first use.
	regexps     func() specRegexps
	summaryT    template
	hypothesisT template
	fixT        []template
}

type specRegexps struct {
	patterns, identity []*regexp.Regexp
}

type rulesFile struct {
	Rules []yaml.Node `yaml:"rules"`
}

var specKeys = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[ruleSpec]()
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" {
			m[tag] = true
		}
	}
	return m
}()

var (
	ruleIDForm  = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$`)
	outcomeIDs  = []string{RuleSimulator, RuleNotAFailure, RuleUnknown}
	suppressors = []string{"", "BOUNCE", "COMPLAINT"}
)

// decodeRulesFile decodes the top level of a rules file, saying in words
// what yaml's errors would not: an empty file (yaml says "EOF"), and a
// top-level key other than "rules" (yaml names a Go type).
func decodeRulesFile(name string, data []byte, rf *rulesFile) error {
	var top yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(top.Content) == 0 {
		return fmt.Errorf("%s: the file is empty (want a top-level \"rules:\" list; see rules/FORMAT.md)", name)
	}
	doc := top.Content[0]
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: the top level must be a mapping with a \"rules:\" list", name, doc.Line)
	}
	for k := 0; k+1 < len(doc.Content); k += 2 {
		if key := doc.Content[k]; key.Value != "rules" {
			return fmt.Errorf("%s:%d: unknown top-level key %q (allowed: rules)", name, key.Line, key.Value)
		}
	}
	if err := doc.Decode(rf); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// parseRules reads one rules file. Errors name the file and line.
func parseRules(name string, data []byte) ([]ruleSpec, error) {
	var rf rulesFile
	if err := decodeRulesFile(name, data, &rf); err != nil {
		return nil, err
	}
	if len(rf.Rules) == 0 {
		return nil, fmt.Errorf("%s: no rules (want a top-level \"rules:\" list)", name)
	}
	specs := make([]ruleSpec, 0, len(rf.Rules))
	for i := range rf.Rules {
		node := &rf.Rules[i]
		if node.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: rule %d is not a mapping", name, node.Line, i+1)
		}
		for k := 0; k+1 < len(node.Content); k += 2 {
			key := node.Content[k]
			if !specKeys[key.Value] {
				return nil, fmt.Errorf("%s:%d: unknown key %q (allowed: %s; see rules/FORMAT.md)", name, key.Line, key.Value, strings.Join(slices.Sorted(maps.Keys(specKeys)), ", "))
			}
		}
		var s ruleSpec
		if err := node.Decode(&s); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, node.Line, err)
		}
		s.line = node.Line
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: rule %q: %w", name, node.Line, s.ID, err)
		}
		specs = append(specs, s)
	}
	return specs, nil
}

func (s *ruleSpec) validate() error {
	if s.ID == "" {
		return errors.New("missing id")
	}
	if !ruleIDForm.MatchString(s.ID) && !slices.Contains(outcomeIDs, s.ID) {
		return fmt.Errorf("id must have the form family.name (lower case), got %q", s.ID)
	}
	switch s.Severity {
	case SeverityCritical, SeverityWarning, SeverityInfo:
	case "":
		return errors.New("missing severity (critical, warning or info)")
	default:
		return fmt.Errorf("unknown severity %q (critical, warning or info)", s.Severity)
	}
	if s.Confidence <= 0 || s.Confidence > 1 {
		return fmt.Errorf("confidence %v is not in (0, 1]", s.Confidence)
	}
	if s.Prior < 0 || s.Prior > s.Confidence {
		return fmt.Errorf("prior %v is not in [0, confidence]", s.Prior)
	}
	if len(s.Facts) > 0 && s.Prior == 0 {
		return errors.New("a rule with facts needs a prior (its confidence while facts are unknown)")
	}
	if len(s.Kinds) == 0 {
		return errors.New("missing kinds")
	}
	for _, k := range s.Kinds {
		if !slices.Contains(AllKinds, k) {
			return fmt.Errorf("unknown kind %q", k)
		}
	}
	for _, r := range s.Roles {
		if !slices.Contains(AllRoles, r) {
			return fmt.Errorf("unknown role %q", r)
		}
	}
	for _, t := range s.Transports {
		if t != "api" && t != "smtp" && t != "" {
			return fmt.Errorf("unknown transport %q (api, smtp)", t)
		}
	}
	for _, f := range s.Facts {
		if _, ok := factPredicates[f]; !ok {
			return fmt.Errorf("unknown fact %q (known: %s)", f, strings.Join(FactNames(), ", "))
		}
	}
	if err := s.compilePatterns(); err != nil {
		return err
	}
	for _, p := range append(slices.Clone(s.Phrases), s.NotPhrases...) {
		if strings.TrimSpace(p) == "" {
			return errors.New("empty phrase")
		}
	}
	for _, g := range s.GenericPhrases {
		if !slices.ContainsFunc(s.Phrases, func(p string) bool { return strings.EqualFold(p, g) }) {
			return fmt.Errorf("generic phrase %q is not one of the rule's phrases", g)
		}
	}
	for _, st := range s.Statuses {
		if !statusPrefixForm.MatchString(st) {
			return fmt.Errorf("status %q is not an enhanced status code prefix like 5.1.1, 5.7 or x.2.2", st)
		}
	}
	for _, rc := range s.ReplyCodes {
		if len(rc) != 3 || rc[0] < '2' || rc[0] > '5' || !isDigit(rc[1]) || !isDigit(rc[2]) {
			return fmt.Errorf("reply code %q is not a three-digit SMTP code", rc)
		}
	}
	if !slices.Contains(suppressors, s.Suppress) {
		return fmt.Errorf("suppress %q is not BOUNCE or COMPLAINT", s.Suppress)
	}
	if s.Summary == "" {
		return errors.New("missing summary")
	}
	var err error
	if s.summaryT, err = parseTemplate(s.Summary); err != nil {
		return err
	}
	if len(s.Facts) > 0 && s.Hypothesis == "" {
		return errors.New("a rule with facts needs a hypothesis (its summary while facts are unknown, worded as an if with what to check)")
	}
	s.hypothesisT = nil
	if s.Hypothesis != "" {
		if s.hypothesisT, err = parseTemplate(s.Hypothesis); err != nil {
			return err
		}
	}
	s.fixT = nil
	for _, t := range s.Fix {
		ft, err := parseTemplate(t)
		if err != nil {
			return err
		}
		s.fixT = append(s.fixT, ft)
	}
	return nil
}

// compilePatterns compiles the spec's regular expressions now.
func (s *ruleSpec) compilePatterns() error {
	s.regexps = nil
	if len(s.Patterns)+len(s.IdentityPatterns) == 0 {
		return nil
	}
	res, err := compileRegexps(s.Patterns, s.IdentityPatterns)
	if err != nil {
		return err
	}
	s.regexps = func() specRegexps { return res }
	return nil
}

// compilePatternsLazily defers compiling to first use, for specs already
// validated (the snapshot's): most of the rule set's regexps serve send
// errors, which a bounce-processing cold start never sees. Safe for
// concurrent callers; it panics on a bad regexp, which validate rules out
// and TestSnapshotSameAsYAML checks.
func (s *ruleSpec) compilePatternsLazily() {
	s.regexps = nil
	if len(s.Patterns)+len(s.IdentityPatterns) == 0 {
		return
	}
	patterns, identity, id := s.Patterns, s.IdentityPatterns, s.ID
	s.regexps = sync.OnceValue(func() specRegexps {
		res, err := compileRegexps(patterns, identity)
		if err != nil {
			panic(fmt.Sprintf("ruleset: embedded rule %q: %v", id, err))
		}
		return res
	})
}

func compileRegexps(patterns, identity []string) (specRegexps, error) {
	var res specRegexps
	for i, p := range append(slices.Clone(patterns), identity...) {
		re, err := regexp.Compile(p)
		if err != nil {
			return specRegexps{}, fmt.Errorf("pattern %q: %w", p, err)
		}
		if i < len(patterns) {
			res.patterns = append(res.patterns, re)
		} else {
			res.identity = append(res.identity, re)
		}
	}
	return res, nil
}

var statusPrefixForm = regexp.MustCompile(`^([245x])(\.\d{1,3}){0,2}$`)

// LoadFile reads an operator's extra rules file.
func LoadFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	return data, nil
}
