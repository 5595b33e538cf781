package ruleset

import (
	"fmt"
	"sort"
	"strings"
)

// tri is a three-valued truth: facts may be unknown.
type tri int8

const (
	unknown tri = iota
	yes
	no
)

func triOf(b bool) tri {
	if b {
		return yes
	}
	return no
}

// factPredicate evaluates one named fact for a subject. It may set template
// values (verifiedRegion, variant, status) and returns evidence for a yes.
type factPredicate func(e *evalCtx) (tri, string)

// factPredicates is the vocabulary rules use under `facts:`.
var factPredicates = map[string]factPredicate{
	"sandbox": func(e *evalCtx) (tri, string) {
		rf := e.regionFacts()
		if rf == nil || rf.ProductionAccess == nil {
			return unknown, ""
		}
		return triOf(!*rf.ProductionAccess), e.region + ": the account is in the SES sandbox (GetAccount ProductionAccessEnabled=false)"
	},
	"production": func(e *evalCtx) (tri, string) {
		rf := e.regionFacts()
		if rf == nil || rf.ProductionAccess == nil {
			return unknown, ""
		}
		return triOf(*rf.ProductionAccess), e.region + ": the account has production access"
	},
	"sending-disabled": func(e *evalCtx) (tri, string) {
		rf := e.regionFacts()
		if rf == nil || rf.SendingEnabled == nil {
			return unknown, ""
		}
		return triOf(!*rf.SendingEnabled), e.region + ": sending is disabled for the account (GetAccount SendingEnabled=false)"
	},
	"shutdown": func(e *evalCtx) (tri, string) {
		rf := e.regionFacts()
		if rf == nil || rf.EnforcementStatus == "" {
			return unknown, ""
		}
		return triOf(strings.EqualFold(rf.EnforcementStatus, "SHUTDOWN")), e.region + ": enforcement status SHUTDOWN"
	},
	"identity-verified": func(e *evalCtx) (tri, string) {
		v := e.covered(e.region)
		return v, e.region + ": " + e.identity + " is verified (" + e.coveredBy(e.region) + " SUCCESS)"
	},
	"identity-unverified": func(e *evalCtx) (tri, string) {
		v := e.covered(e.region)
		if v == unknown {
			return unknown, ""
		}
		return not(v), e.region + ": " + e.identity + " is not a verified identity"
	},
	"verified-other-region": func(e *evalCtx) (tri, string) {
		here := e.covered(e.region)
		if here != no {
			return not(here), ""
		}
		var found []string
		anyUnknown := false
		for _, r := range e.otherRegions() {
			switch e.covered(r) {
			case yes:
				found = append(found, r)
			case unknown:
				anyUnknown = true
			}
		}
		if len(found) == 0 {
			if anyUnknown {
				return unknown, ""
			}
			return no, ""
		}
		e.vals[phVerifiedRegion] = found[0]
		return yes, fmt.Sprintf("%s is verified in %s but not in %s", e.identity, strings.Join(found, ", "), e.region)
	},
	"absent-everywhere": func(e *evalCtx) (tri, string) {
		if e.facts == nil || len(e.facts.Regions) == 0 {
			return unknown, ""
		}
		checked := 0
		for _, r := range e.allRegions() {
			rf := e.facts.Regions[r]
			if rf == nil || rf.Identities == nil {
				continue
			}
			checked++
			if e.presentIn(rf.Identities) {
				return no, ""
			}
		}
		if checked == 0 {
			return unknown, ""
		}
		if checked < len(e.facts.Regions) {
			return unknown, ""
		}
		return yes, fmt.Sprintf("%s (and its domain) is not an identity in any checked Region (%s)", e.identity, strings.Join(e.allRegions(), ", "))
	},
	"case-variant-verified": func(e *evalCtx) (tri, string) {
		if !strings.Contains(e.identity, "@") {
			return no, ""
		}
		ids := e.identities(e.region)
		if ids == nil {
			return unknown, ""
		}
		if ids[e.identity] == StatusSuccess {
			return no, ""
		}
		for k, st := range ids {
			if k != e.identity && strings.EqualFold(k, e.identity) && st == StatusSuccess {
				e.vals[phVariant] = k
				return yes, fmt.Sprintf("%s: %s is verified, %s differs only in letter case (addresses are case-sensitive)", e.region, k, e.identity)
			}
		}
		return no, ""
	},
	"pending": func(e *evalCtx) (tri, string) {
		ids := e.identities(e.region)
		if ids == nil {
			return unknown, ""
		}
		if e.covered(e.region) == yes {
			return no, ""
		}
		for _, k := range e.candidates() {
			if st, ok := lookupFold(ids, k, k != e.identity || !strings.Contains(k, "@")); ok && st != StatusSuccess {
				e.vals[phStatus] = st
				return yes, fmt.Sprintf("%s: identity %s exists but its verification status is %s", e.region, k, st)
			}
		}
		return no, ""
	},
	"domain-verified-address-absent": func(e *evalCtx) (tri, string) {
		if !strings.Contains(e.identity, "@") {
			return no, ""
		}
		ids := e.identities(e.region)
		if ids == nil {
			return unknown, ""
		}
		if _, ok := ids[e.identity]; ok {
			return no, ""
		}
		for _, d := range domainChain(domainOf(e.identity)) {
			if st, ok := lookupFold(ids, d, true); ok && st == StatusSuccess {
				return yes, fmt.Sprintf("%s: domain %s is verified, address %s is not an identity of its own", e.region, d, e.identity)
			}
		}
		return no, ""
	},
}

func not(t tri) tri {
	switch t {
	case yes:
		return no
	case no:
		return yes
	}
	return unknown
}

// FactNames lists the fact predicates rules may use, sorted.
func FactNames() []string {
	out := make([]string, 0, len(factPredicates))
	for k := range factPredicates {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (e *evalCtx) regionFacts() *RegionFacts {
	if e.facts == nil || e.region == "" {
		return nil
	}
	return e.facts.Regions[e.region]
}

func (e *evalCtx) identities(region string) map[string]string {
	if e.facts == nil {
		return nil
	}
	rf := e.facts.Regions[region]
	if rf == nil {
		return nil
	}
	return rf.Identities
}

func (e *evalCtx) allRegions() []string {
	if e.facts == nil {
		return nil
	}
	out := make([]string, 0, len(e.facts.Regions))
	for r := range e.facts.Regions {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (e *evalCtx) otherRegions() []string {
	all := e.allRegions()
	out := all[:0:0]
	for _, r := range all {
		if r != e.region {
			out = append(out, r)
		}
	}
	return out
}

// candidates lists the identities that could cover e.identity: the
// address, the address without a +label, its domain and parent domains.
func (e *evalCtx) candidates() []string {
	id := e.identity
	var out []string
	if at := strings.LastIndexByte(id, '@'); at >= 0 {
		out = append(out, id)
		if plus := strings.IndexByte(id[:at], '+'); plus > 0 {
			out = append(out, id[:plus]+id[at:])
		}
	}
	return append(out, domainChain(domainOf(id))...)
}

// domainChain returns d and its parent domains down to two labels.
func domainChain(d string) []string {
	out := []string{d}
	for {
		i := strings.IndexByte(d, '.')
		if i < 0 || strings.Count(d[i+1:], ".") < 1 {
			return out
		}
		d = d[i+1:]
		out = append(out, d)
	}
}

// lookupFold finds k in ids; domains compare case-insensitively,
// addresses exactly.
func lookupFold(ids map[string]string, k string, fold bool) (string, bool) {
	if st, ok := ids[k]; ok {
		return st, true
	}
	if !fold {
		return "", false
	}
	for key, st := range ids {
		if strings.EqualFold(key, k) {
			return st, true
		}
	}
	return "", false
}

// covered says whether e.identity may send in region: the address itself,
// its +label-less form or its domain (or a parent domain) is SUCCESS.
func (e *evalCtx) covered(region string) tri {
	ids := e.identities(region)
	if ids == nil {
		return unknown
	}
	return triOf(e.coveredIn(ids) != "")
}

func (e *evalCtx) coveredBy(region string) string {
	return e.coveredIn(e.identities(region))
}

func (e *evalCtx) coveredIn(ids map[string]string) string {
	for _, k := range e.candidates() {
		isAddr := strings.Contains(k, "@")
		if st, ok := lookupFold(ids, k, !isAddr); ok && st == StatusSuccess {
			return k
		}
	}
	return ""
}

// presentIn reports whether any form of the identity exists at all,
// including case variants of the address.
func (e *evalCtx) presentIn(ids map[string]string) bool {
	for _, k := range e.candidates() {
		if _, ok := lookupFold(ids, k, true); ok {
			return true
		}
	}
	return false
}
