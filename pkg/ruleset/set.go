package ruleset

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Set is a compiled rule set. It is safe for concurrent use.
type Set struct {
	rules   []*rule
	byKind  map[Kind][]*rule
	phrases *phraseMatcher
	pool    sync.Pool // *scratch
}

type rule struct {
	spec  ruleSpec
	order int

	kinds                             []Kind
	eventTypes, bounceTypes, subTypes []string
	feedbackTypes, complaintSubTypes  []string
	delayTypes, transports            []string
	roles                             []Role

	phraseIDs, notPhraseIDs []int32
	// phraseMask and notPhraseMask are the same sets as bitsets over the
	// matcher's phrase IDs: one AND per 64 phrases instead of a test each.
	phraseMask, notPhraseMask []uint64
	// specificMask is phraseMask less the rule's genericPhrases.
	specificMask []uint64
	// statusWeights[i] is the evidence weight of spec.Statuses[i].
	statusWeights []float64
	regexps       func() specRegexps // see ruleSpec.regexps
	facts         []factPredicate

	summary    template
	hypothesis template // summary while facts are unknown; nil without facts
	fix        []template
}

func (r *rule) hasEvidence() bool {
	return len(r.phraseIDs) > 0 || len(r.spec.Patterns) > 0 || len(r.spec.Statuses) > 0 || len(r.spec.ReplyCodes) > 0
}

var (
	defaultOnce sync.Once
	defaultSet  *Set
	defaultErr  error
)

// Default returns the rule set built from the embedded rules files. It
// panics if they do not compile; a test guarantees they do.
func Default() *Set {
	defaultOnce.Do(func() {
		defaultSet, defaultErr = New()
	})
	if defaultErr != nil {
		panic(defaultErr)
	}
	return defaultSet
}

// RuleFile is a rules file given by name and content.
type RuleFile struct {
	Name string
	Data []byte
}

// New compiles the embedded rules plus any extra files, in order.
func New(extra ...RuleFile) (*Set, error) {
	specs, err := embeddedSpecs()
	if err != nil {
		return nil, err
	}
	more, err := parseFiles(extra)
	if err != nil {
		return nil, err
	}
	return compileSpecs(append(specs, more...)), nil
}

// Compile builds a Set from rules files alone (no embedded rules).
func Compile(files ...RuleFile) (*Set, error) {
	specs, err := parseFiles(files)
	if err != nil {
		return nil, err
	}
	return compileSpecs(specs), nil
}

func parseFiles(files []RuleFile) ([]ruleSpec, error) {
	var specs []ruleSpec
	for _, f := range files {
		s, err := parseRules(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s...)
	}
	return specs, nil
}

// compileSpecs builds a Set from validated specs.
func compileSpecs(specs []ruleSpec) *Set {
	set := &Set{byKind: map[Kind][]*rule{}}
	n := 0
	for i := range specs {
		n += len(specs[i].Phrases) + len(specs[i].NotPhrases)
	}
	phrases := make([]string, 0, n)
	phraseID := make(map[string]int32, n)
	intern := func(p string) int32 {
		p = strings.ToLower(p)
		if id, ok := phraseID[p]; ok {
			return id
		}
		id := int32(len(phrases))
		phrases = append(phrases, p)
		phraseID[p] = id
		return id
	}
	for i := range specs {
		s := specs[i]
		r := &rule{
			spec: s, order: i, kinds: s.Kinds, eventTypes: s.EventTypes,
			bounceTypes: s.BounceTypes, subTypes: s.BounceSubTypes,
			feedbackTypes: s.FeedbackTypes, complaintSubTypes: s.ComplaintSubTypes,
			delayTypes: s.DelayTypes, transports: s.Transports, roles: s.Roles,
		}
		for _, p := range s.Phrases {
			r.phraseIDs = append(r.phraseIDs, intern(p))
		}
		for _, p := range s.NotPhrases {
			r.notPhraseIDs = append(r.notPhraseIDs, intern(p))
		}
		r.regexps = s.regexps
		for _, st := range s.Statuses {
			r.statusWeights = append(r.statusWeights, statusWeight(st))
		}
		for _, f := range s.Facts {
			r.facts = append(r.facts, factPredicates[f])
		}
		r.summary, r.hypothesis, r.fix = s.summaryT, s.hypothesisT, s.fixT
		set.rules = append(set.rules, r)
		for _, k := range s.Kinds {
			set.byKind[k] = append(set.byKind[k], r)
		}
	}
	if snapshot.matcher != nil && slices.Equal(phrases, snapshot.phrases) {
		set.phrases = snapshot.matcher // read-only: shared by every such Set
	} else {
		set.phrases = newPhraseMatcher(phrases)
	}
	for _, r := range set.rules {
		r.phraseMask = maskOf(r.phraseIDs, set.phrases.words())
		r.notPhraseMask = maskOf(r.notPhraseIDs, set.phrases.words())
		var specific []int32
		for i, id := range r.phraseIDs {
			if !slices.ContainsFunc(r.spec.GenericPhrases, func(g string) bool { return strings.EqualFold(g, r.spec.Phrases[i]) }) {
				specific = append(specific, id)
			}
		}
		r.specificMask = maskOf(specific, set.phrases.words())
	}
	set.pool.New = func() any {
		return &scratch{found: make([]uint64, set.phrases.words()), base: make([]uint64, set.phrases.words())}
	}
	return set
}

// RuleIDs returns the distinct rule IDs of the set, in file order.
func (s *Set) RuleIDs() []string {
	var out []string
	for _, r := range s.rules {
		if !slices.Contains(out, r.spec.ID) {
			out = append(out, r.spec.ID)
		}
	}
	return out
}

// RuleSummary returns the severity and suppress reason of a rule ID (from its
// first entry); ok is false for an ID the set does not have.
func (s *Set) RuleSummary(id string) (sev Severity, suppress string, ok bool) {
	for _, r := range s.rules {
		if r.spec.ID == id {
			return r.spec.Severity, r.spec.Suppress, true
		}
	}
	return "", "", false
}

type scratch struct {
	found, base               []uint64
	statuses, replies         []string
	baseStatuses, baseReplies []string
	cands                     []candidate
}

// appendCapped appends src to dst keeping at most 16 codes, the bound
// scanCodes keeps.
func appendCapped(dst, src []string) []string {
	if n := 16 - len(dst); len(src) > n {
		src = src[:max(n, 0)]
	}
	return append(dst, src...)
}

type candidate struct {
	r    *rule
	conf float64
	alt  bool // a rule of the failure's AltKind
}

// subject is what one diagnosis is about: a recipient or a failing identity.
type subject struct {
	identity  string
	role      Role
	lower     string
	statuses  []string
	replies   []string
	recipient *Recipient
	anyPhrase bool
}

type evalCtx struct {
	f        *Failure
	subj     *subject
	facts    *Facts
	identity string
	region   string
	vals     [len(placeholdersArr)]string
	found    []uint64
	evidence []string
	explain  bool
	// partial is set by eval when the rule's facts were not all known.
	partial bool
	// alt: the rule is of the failure's AltKind.
	alt bool
}

// ClassifyBytes decodes one input of any supported shape and classifies
// each of its records. An input that cannot be decoded yields a Diagnosis
// with rule invalid-input and Error set; the rest of a batch is unaffected.
func (s *Set) ClassifyBytes(data []byte, facts *Facts, source string) []Diagnosis {
	var out []Diagnosis
	for _, d := range Decode(data, source) {
		out = append(out, s.ClassifyDecoded(d, facts)...)
	}
	return out
}

// ClassifyDecoded classifies one decoded record.
func (s *Set) ClassifyDecoded(d Decoded, facts *Facts) []Diagnosis {
	if d.Err != nil {
		return []Diagnosis{{Rule: RuleInvalid, Severity: SeverityWarning, Source: d.Source, Error: d.Err.Error(), Summary: "the input could not be decoded"}}
	}
	out := s.Classify(d.Failure, facts)
	for i := range out {
		out[i].Source = d.Source
		if d.Note != "" && out[i].Rule == RuleNotAFailure {
			out[i].Summary = d.Note
		}
	}
	return out
}

// Classify returns one ranked Diagnosis per subject of f: per recipient
// for bounces, complaints and delays; per failing identity for send errors.
func (s *Set) Classify(f *Failure, facts *Facts) []Diagnosis {
	if f == nil {
		return []Diagnosis{{Rule: RuleInvalid, Severity: SeverityWarning, Error: "nil failure"}}
	}
	if f.Kind == KindNotFailure {
		return []Diagnosis{{Rule: RuleNotAFailure, Severity: SeverityInfo, Summary: "not a failure", Region: f.Region, Kind: f.Kind}}
	}
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)

	region := f.Region
	if region == "" && facts != nil {
		region = facts.SendingRegion
	}
	baseLower := f.lower
	if f.lowerOf != f.Text {
		baseLower = strings.ToLower(f.Text)
	}

	// The shared text is scanned once however many subjects it has (a raw
	// email or an SES error can name dozens): phrases and codes found in it
	// are copied to each subject, whose own diagnostic code alone is
	// scanned on top.
	clear(sc.base)
	baseAny := baseLower != "" && s.phrases.match(baseLower, sc.base)
	sc.baseStatuses, sc.baseReplies = scanCodes(baseLower, sc.baseStatuses[:0], sc.baseReplies[:0])

	var out []Diagnosis
	switch {
	case len(f.Recipients) > 0:
		out = make([]Diagnosis, 0, len(f.Recipients))
		for i := range f.Recipients {
			rc := &f.Recipients[i]
			subj := subject{identity: rc.Address, role: RoleRecipient, recipient: rc, anyPhrase: baseAny}
			copy(sc.found, sc.base)
			sc.statuses, sc.replies = sc.statuses[:0], sc.replies[:0]
			if rc.Status != "" {
				sc.statuses = append(sc.statuses, strings.TrimSpace(rc.Status))
			}
			sc.statuses = appendCapped(sc.statuses, sc.baseStatuses)
			sc.replies = appendCapped(sc.replies, sc.baseReplies)
			switch {
			case rc.DiagnosticCode == "":
				subj.lower = baseLower
			default:
				diag := strings.ToLower(rc.DiagnosticCode)
				if s.phrases.match(diag, sc.found) {
					subj.anyPhrase = true
				}
				sc.statuses, sc.replies = scanCodes(diag, sc.statuses, sc.replies)
				if baseLower == "" {
					subj.lower = diag
				} else {
					subj.lower = baseLower + "\n" + diag
				}
			}
			subj.statuses, subj.replies = sc.statuses, sc.replies
			out = append(out, s.classifySubject(f, &subj, facts, region, sc))
		}
	default:
		copy(sc.found, sc.base)
		ids := f.Identities
		if len(ids) == 0 {
			id := f.From
			if f.Kind == KindBounce || f.Kind == KindComplaint || f.Kind == KindDelay {
				id = ""
			}
			ids = []Identity{{Value: id, Role: roleOf(id, f)}}
		}
		out = make([]Diagnosis, 0, len(ids))
		for _, id := range ids {
			subj := subject{identity: id.Value, role: id.Role, lower: baseLower, statuses: sc.baseStatuses, replies: sc.baseReplies, anyPhrase: baseAny}
			out = append(out, s.classifySubject(f, &subj, facts, region, sc))
		}
	}
	if f.FromText && !sesLike(f.Text) && !slices.ContainsFunc(out, func(d Diagnosis) bool { return d.Rule != RuleUnknown || d.Abstained }) {
		// Text that no rule reads and that has nothing of a mail failure
		// in it is not a failure report (a pasted wrong file, prose).
		return []Diagnosis{{Rule: RuleInvalid, Severity: SeverityWarning, Region: f.Region, Kind: f.Kind,
			Error: "plain text with nothing of an SES error, SMTP reply or address in it", Summary: "the input could not be decoded"}}
	}
	return out
}

func (s *Set) classifySubject(f *Failure, subj *subject, facts *Facts, region string, sc *scratch) Diagnosis {
	e := evalCtx{f: f, subj: subj, facts: facts, identity: subj.identity, region: region, found: sc.found}
	cands := sc.cands[:0]
	// Two passes: the failure's kind, then its second reading's (a loop,
	// not a closure, which would move e to the heap on every call).
	for pass := 0; pass < 2; pass++ {
		rules, alt := s.byKind[f.Kind], pass == 1
		if alt {
			if f.AltKind == "" {
				break
			}
			rules = s.byKind[f.AltKind]
		}
		for _, r := range rules {
			if alt && (!r.hasEvidence() || slices.Contains(r.kinds, f.Kind)) {
				// The other reading of ambiguous text competes on what
				// the text says, not on a kind's structural fallback.
				continue
			}
			e.alt = alt
			conf, ok := r.eval(&e)
			if !ok {
				continue
			}
			if alt {
				conf *= weightAltReading
			}
			if j := slices.IndexFunc(cands, func(c candidate) bool { return c.r.spec.ID == r.spec.ID }); j >= 0 {
				if conf > cands[j].conf {
					cands[j] = candidate{r, conf, alt}
				}
				continue
			}
			cands = append(cands, candidate{r, conf, alt})
		}
	}
	sc.cands = cands
	if len(cands) == 0 {
		return unknownDiagnosis(f, subj, region)
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		switch {
		case round2(a.conf) != round2(b.conf):
			return cmp.Compare(b.conf, a.conf)
		case a.alt != b.alt:
			// A tie goes to the text's first reading.
			if a.alt {
				return 1
			}
			return -1
		default:
			return cmp.Compare(a.r.order, b.r.order)
		}
	})
	if cands[0].conf < ConfidenceFloor {
		return abstain(f, subj, region, cands)
	}
	top := cands[0]
	// Explain the winner: evaluate again collecting evidence and values.
	ex := evalCtx{f: f, subj: subj, facts: facts, identity: subj.identity, region: region, found: sc.found, explain: true, alt: top.alt}
	top.r.eval(&ex)
	d := Diagnosis{
		Rule:       top.r.spec.ID,
		Severity:   top.r.spec.Severity,
		Identity:   subj.identity,
		Region:     region,
		Confidence: round2(top.conf),
		Suppress:   top.r.spec.Suppress,
		Kind:       kindOf(f, top.alt),
		// Facts count as known only when the diagnosis rests on them: a
		// rule ranked by its prior is a guess whatever else was gathered.
		FactsKnown: facts != nil && !(len(top.r.facts) > 0 && ex.partial),
	}
	ex.fillValues(f, facts)
	if len(top.r.facts) > 0 && ex.partial && top.r.hypothesis != nil {
		d.Summary = top.r.hypothesis.renderSummary(&ex.vals)
	} else {
		d.Summary = top.r.summary.renderSummary(&ex.vals)
	}
	d.Fix = make([]string, len(top.r.fix))
	for i, t := range top.r.fix {
		d.Fix[i] = t.render(&ex.vals)
	}
	d.Evidence = ex.evidence
	if len(top.r.facts) > 0 && ex.partial {
		reg := region
		if reg == "" {
			reg = "<region>"
		}
		d.Evidence = append(d.Evidence, "account facts unknown: ranked by base rates; check with `sesguard diagnose --live` or `aws sesv2 get-account --region "+reg+"`")
	}
	for _, c := range cands[1:] {
		if len(d.Alternatives) == 3 {
			break
		}
		if slices.Contains(top.r.spec.NotAlternatives, c.r.spec.ID) {
			continue
		}
		d.Alternatives = append(d.Alternatives, Alternative{Rule: c.r.spec.ID, Confidence: round2(c.conf)})
	}
	return d
}

func round2(x float64) float64 { return float64(int(x*100+0.5)) / 100 }

func kindOf(f *Failure, alt bool) Kind {
	if alt {
		return f.AltKind
	}
	return f.Kind
}

// ConfidenceFloor is the confidence below which a ranking is a guess, not
// a diagnosis: the answer is unknown, with the candidates as
// alternatives. Calibrated on the corpus and labelled DSNs (FORMAT.md,
// "Ranking").
const ConfidenceFloor = 0.15

// abstain is the unknown diagnosis of a subject whose best candidate is
// below ConfidenceFloor.
func abstain(f *Failure, subj *subject, region string, cands []candidate) Diagnosis {
	d := unknownDiagnosis(f, subj, region)
	d.Abstained = true
	d.Summary = fmt.Sprintf("no rule reached the confidence floor (%.2f); the candidates are listed as alternatives, the raw text is kept for review", ConfidenceFloor)
	for _, c := range cands {
		if len(d.Alternatives) == 3 {
			break
		}
		d.Alternatives = append(d.Alternatives, Alternative{Rule: c.r.spec.ID, Confidence: round2(c.conf)})
	}
	return d
}

func unknownDiagnosis(f *Failure, subj *subject, region string) Diagnosis {
	text := f.Text
	if subj.recipient != nil && subj.recipient.DiagnosticCode != "" {
		text = subj.recipient.DiagnosticCode
	}
	if len(text) > 500 {
		text = text[:500] + "…"
	}
	d := Diagnosis{
		Rule: RuleUnknown, Severity: SeverityWarning, Identity: subj.identity, Region: region,
		Summary: "no rule matched this failure; the raw text is kept for review",
		Kind:    f.Kind,
	}
	if text != "" {
		d.Evidence = []string{"raw: " + text}
	}
	if f.EventType != "" {
		d.Evidence = append(d.Evidence, "SES event type "+f.EventType)
	}
	return d
}

func (e *evalCtx) fillValues(f *Failure, facts *Facts) {
	v := &e.vals
	v[phIdentity] = e.identity
	if e.identity != "" {
		v[phDomain] = domainOf(e.identity)
	}
	v[phRegion] = e.region
	v[phConfigurationSet] = f.ConfigurationSet
	v[phAccount] = f.Account
	v[phTemplate] = f.TemplateName
	v[phDelayType] = f.DelayType
	v[phBounceType] = f.BounceType
	v[phBounceSubType] = f.BounceSubType
	v[phFeedbackType] = f.ComplaintFeedbackType
	t := f.Text
	if e.subj.recipient != nil && e.subj.recipient.DiagnosticCode != "" {
		t = e.subj.recipient.DiagnosticCode
	}
	if len(t) > 200 {
		t = t[:200] + "…"
	}
	v[phText] = t
	v[phPrincipal], v[phAction] = "", ""
	if p, act, acct := deniedCaller(f.Text); p != "" {
		v[phPrincipal], v[phAction] = p, act
		if v[phAccount] == "" {
			v[phAccount] = acct
		}
	}
	if facts != nil {
		v[phSendingRegion] = facts.SendingRegion
	}
	if v[phSendingRegion] == "" {
		v[phSendingRegion] = e.region
	}
}

// add records evidence while explaining the winning rule.
func (e *evalCtx) add(s string) {
	if e.explain {
		e.evidence = append(e.evidence, s)
	}
}

func inList(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// eval decides whether r holds for the subject and with what confidence.
func (r *rule) eval(e *evalCtx) (float64, bool) {
	f, subj := e.f, e.subj
	if len(r.eventTypes) > 0 && !inList(r.eventTypes, f.EventType) {
		return 0, false
	}
	if len(r.bounceTypes) > 0 && !inList(r.bounceTypes, f.BounceType) {
		return 0, false
	}
	if len(r.subTypes) > 0 && !inList(r.subTypes, f.BounceSubType) {
		return 0, false
	}
	if len(r.feedbackTypes) > 0 && !inList(r.feedbackTypes, strings.ToLower(f.ComplaintFeedbackType)) {
		return 0, false
	}
	if len(r.complaintSubTypes) > 0 && !inList(r.complaintSubTypes, f.ComplaintSubType) {
		return 0, false
	}
	if len(r.delayTypes) > 0 && !inList(r.delayTypes, f.DelayType) {
		return 0, false
	}
	if len(r.transports) > 0 && !inList(r.transports, f.Transport) {
		return 0, false
	}
	if len(r.roles) > 0 && !slices.Contains(r.roles, subj.role) {
		return 0, false
	}
	if r.spec.Delegated != nil && *r.spec.Delegated != isDelegated(f) {
		return 0, false
	}
	if r.spec.ConfigurationSet != nil && *r.spec.ConfigurationSet != (f.ConfigurationSet != "" || f.SourceArn != "") {
		return 0, false
	}
	if subj.anyPhrase && r.notPhraseMask != nil && intersects(r.notPhraseMask, e.found) {
		return 0, false
	}
	if len(r.spec.IdentityPatterns) > 0 {
		ok := false
		for _, p := range r.regexps().identity {
			if subj.identity != "" && p.MatchString(subj.identity) {
				ok = true
				if e.explain {
					e.add("identity " + subj.identity + " looks like a host name, not a sending domain of yours (" + p.String() + ")")
				}
				break
			}
		}
		if !ok {
			return 0, false
		}
	}
	weight, kinds := 1.0, 0
	if r.hasEvidence() {
		if weight, kinds = r.matchEvidence(e); kinds == 0 || e.alt && weight < weightSpecific {
			// The other reading of ambiguous text needs specific evidence.
			return 0, false
		}
		if len(r.spec.IdentityPatterns) > 0 {
			kinds++ // the identity's shape agrees with the text
		}
	}
	if e.explain {
		r.noteStructure(e)
	}
	e.partial = false
	if len(r.facts) == 0 {
		if kinds == 1 {
			weight *= weightSingleKind
		}
		return r.spec.Confidence * weight, true
	}
	known, held := 0, 0
	for i, fp := range r.facts {
		t, ev := fp(e)
		switch t {
		case no:
			return 0, false
		case yes:
			known++
			held++
			e.add(ev)
		default:
			if e.facts != nil {
				if e.explain {
					e.add("fact " + strconv.Quote(r.spec.Facts[i]) + " unknown")
				}
			}
		}
	}
	if held == len(r.facts) && known == len(r.facts) {
		// The account facts agree with the text: two kinds of evidence.
		return r.spec.Confidence * weight, true
	}
	if kinds == 1 {
		weight *= weightSingleKind
	}
	e.partial = true
	frac := float64(held) / float64(len(r.facts))
	return (r.spec.Prior + (r.spec.Confidence-r.spec.Prior)*frac*0.5) * weight, true
}

// Evidence weights (rules/FORMAT.md, "Ranking"): how much one matched
// piece of evidence says about a rule. A specific phrase, a pattern or a
// full enhanced status code (5.2.2, x.7.26) says most; a rule's
// genericPhrases, a status prefix, an SMTP reply code say less.
const (
	weightSpecific   = 1.0
	weightGeneric    = 0.5
	weightStatus2    = 0.7 // a subject-level prefix such as 5.7
	weightStatus1    = 0.4 // a class alone: 4 or 5
	weightReplyCode  = 0.4
	weightSingleKind = 0.9 // one kind of evidence only: no agreement
	weightAltReading = 0.8 // a rule of the text's second reading (Failure.AltKind)
)

func statusWeight(prefix string) float64 {
	switch strings.Count(prefix, ".") {
	case 2:
		return weightSpecific
	case 1:
		return weightStatus2
	}
	return weightStatus1
}

// matchEvidence returns the weight of r's strongest matched evidence and
// how many kinds of evidence (phrase, status code, reply code, pattern)
// matched; 0 kinds: the rule does not hold. One kind alone costs
// weightSingleKind in eval, unless known account facts agree.
func (r *rule) matchEvidence(e *evalCtx) (float64, int) {
	subj := e.subj
	best, kinds := 0.0, 0
	if subj.anyPhrase && r.phraseMask != nil && intersects(r.phraseMask, e.found) {
		kinds++
		best = weightGeneric
		if r.specificMask != nil && intersects(r.specificMask, e.found) {
			best = weightSpecific
		}
		if e.explain {
			r.notePhrase(e, best == weightSpecific)
		}
	}
	statusW, statusSeen := 0.0, ""
	if len(subj.statuses) > 0 {
		for i, want := range r.spec.Statuses {
			w := r.statusWeights[i]
			if w <= statusW {
				continue
			}
			for _, st := range subj.statuses {
				if statusMatches(st, want) {
					statusW, statusSeen = w, st
					break
				}
			}
		}
	}
	if statusW > 0 {
		kinds++
		best = max(best, statusW)
		if e.explain {
			e.add("enhanced status code " + statusSeen)
		}
	}
	if r.matchReply(e) {
		kinds++
		best = max(best, weightReplyCode)
	}
	if kinds == 0 && len(r.spec.Patterns) > 0 {
		for _, p := range r.regexps().patterns {
			if p.MatchString(subj.lower) {
				if e.explain {
					e.add("text matches /" + p.String() + "/")
				}
				kinds, best = 1, weightSpecific
				break
			}
		}
	}
	return best, kinds
}

func (r *rule) matchReply(e *evalCtx) bool {
	for _, want := range r.spec.ReplyCodes {
		for _, rc := range e.subj.replies {
			if rc == want {
				if e.explain {
					e.add("SMTP reply code " + rc)
				}
				return true
			}
		}
	}
	return false
}

// notePhrase names the first matched phrase, a specific one if any.
func (r *rule) notePhrase(e *evalCtx, specific bool) {
	for _, id := range r.phraseIDs {
		if has(e.found, id) && (!specific || has(r.specificMask, id)) {
			what := "text contains "
			if !specific {
				what = "text contains the generic "
			}
			e.add(what + strconv.Quote(r.phraseText(id)))
			return
		}
	}
}

func (r *rule) phraseText(id int32) string {
	for i, pid := range r.phraseIDs {
		if pid == id {
			return strings.ToLower(r.spec.Phrases[i])
		}
	}
	return ""
}

func (r *rule) noteStructure(e *evalCtx) {
	f := e.f
	if f.EventType != "" {
		var b strings.Builder
		b.WriteString("SES ")
		b.WriteString(f.EventType)
		if f.BounceType != "" {
			b.WriteString(", bounceType " + f.BounceType + "/" + f.BounceSubType)
		}
		if f.ComplaintFeedbackType != "" {
			b.WriteString(", feedback type " + f.ComplaintFeedbackType)
		}
		if f.ComplaintSubType != "" {
			b.WriteString(", complaintSubType " + f.ComplaintSubType)
		}
		if f.DelayType != "" {
			b.WriteString(", delayType " + f.DelayType)
		}
		e.add(b.String())
	}
	if len(r.roles) > 0 && e.subj.identity != "" {
		e.add(e.subj.identity + " is the " + roleWords(e.subj.role))
	}
	if len(r.transports) > 0 {
		e.add("sent over " + strings.ToUpper(f.Transport))
	}
	if r.spec.Delegated != nil && *r.spec.Delegated {
		e.add("sending authorization: source ARN " + f.SourceArn + " belongs to another account than " + f.Account)
	}
	if r.spec.ConfigurationSet != nil && *r.spec.ConfigurationSet {
		what := "configuration set " + f.ConfigurationSet
		if f.ConfigurationSet == "" {
			what = "source ARN " + f.SourceArn
		}
		e.add("the send uses " + what)
	}
}

func roleWords(r Role) string {
	switch r {
	case RoleSender:
		return "sender (From/Source)"
	case RoleReturnPath:
		return "Return-Path"
	case RoleRecipient:
		return "recipient"
	}
	return "failing identity (role unknown: not in the envelope you sent)"
}

func isDelegated(f *Failure) bool {
	if f.SourceArn == "" || f.Account == "" {
		return false
	}
	parts := strings.SplitN(f.SourceArn, ":", 6)
	return len(parts) >= 5 && parts[4] != "" && parts[4] != f.Account
}

// statusMatches reports whether an enhanced status code matches a prefix:
// "5.7" matches 5.7.26; "5.1.1" matches only 5.1.1; "x.2.2" matches 4.2.2
// and 5.2.2.
func statusMatches(status, prefix string) bool {
	if strings.HasPrefix(prefix, "x.") {
		if len(status) < 2 {
			return false
		}
		status, prefix = status[1:], prefix[1:]
	}
	// No prefix+"." here: this runs for every status of every bounce.
	return strings.HasPrefix(status, prefix) && (len(status) == len(prefix) || status[len(prefix)] == '.')
}

// FirstStep renders the first fix step of a rule for an identity and
// Region: what to check next for an alternative the CLI lists.
func (s *Set) FirstStep(id, identity, region string) string {
	for _, r := range s.rules {
		if r.spec.ID != id || len(r.fix) == 0 {
			continue
		}
		var vals [len(placeholdersArr)]string
		vals[phIdentity], vals[phRegion], vals[phSendingRegion] = identity, region, region
		if identity != "" {
			vals[phDomain] = domainOf(identity)
		}
		return r.fix[0].render(&vals)
	}
	return ""
}

// maskOf returns ids as a bitset of the given number of words, or nil for
// no ids.
func maskOf(ids []int32, words int) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	m := make([]uint64, words)
	for _, id := range ids {
		m[id>>6] |= 1 << (uint(id) & 63)
	}
	return m
}

func intersects(a, b []uint64) bool {
	for i, w := range a {
		if w&b[i] != 0 {
			return true
		}
	}
	return false
}

// deniedRE reads IAM's refusal, "User: arn:aws:iam::123456789012:user/app
// is not authorized to perform: ses:SendRawEmail on resource: …" (the
// colons are optional: SDKs and loggers drop them).
var deniedRE = regexp.MustCompile(`(?i)\buser:? (arn:aws[a-z-]*:(?:iam|sts)::(\d+):[^\s,;"']+) is not authorized to perform:? ([a-z0-9-]+:[a-z0-9]+)`)

// deniedCaller returns the principal, action and account an IAM refusal
// names, so that the fix uses them instead of placeholders. An assumed-role
// session is given as its role's ARN, which iam simulate-principal-policy
// takes.
func deniedCaller(text string) (principal, action, account string) {
	if !strings.Contains(strings.ToLower(text), "not authorized to perform") {
		return "", "", ""
	}
	m := deniedRE.FindStringSubmatch(text)
	if m == nil {
		return "", "", ""
	}
	principal, account, action = m[1], m[2], m[3]
	if i := strings.Index(principal, ":assumed-role/"); i >= 0 && strings.Contains(principal, ":sts::") {
		role, _, _ := strings.Cut(principal[i+len(":assumed-role/"):], "/")
		principal = "arn:aws:iam::" + account + ":role/" + role
		if p := principal; strings.HasPrefix(m[1], "arn:aws-") {
			partition, _, _ := strings.Cut(m[1][len("arn:"):], ":")
			principal = "arn:" + partition + p[len("arn:aws"):]
		}
	}
	return principal, action, account
}
