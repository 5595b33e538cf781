package ruleset

import (
	"embed"
	"hash/crc32"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
)

//go:embed rules/*.yaml
var embeddedRules embed.FS

// The embedded rules are also compiled into the binary as Go data
// (rules_snapshot.go, generated from rules/*.yaml): parsing the YAML costs
// a cold start milliseconds, the snapshot nothing. The YAML stays the only
// source people edit; TestEmbeddedSnapshot fails while the snapshot is
// stale, and this regenerates it:
//
//go:generate go run -tags rulesetgen gen_snapshot.go

// snapshot is set by rules_snapshot.go's init. Without that file (deleted,
// say, because it no longer compiles) the package still builds and parses
// the YAML.
var snapshot struct {
	digest uint32 // rulesDigest of the files it was generated from
	specs  []ruleSpec
	// matcher is the phrase automaton for exactly phrases (compileSpecs'
	// interned list); building it is most of what is left of a cold start.
	phrases []string
	matcher *phraseMatcher
}

// embeddedFiles returns the embedded rules files in name order.
func embeddedFiles() ([]RuleFile, error) {
	names, err := fs.Glob(embeddedRules, "rules/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	files := make([]RuleFile, 0, len(names))
	for _, n := range names {
		data, err := embeddedRules.ReadFile(n)
		if err != nil {
			return nil, err
		}
		files = append(files, RuleFile{Name: n, Data: data})
	}
	return files, nil
}

// embeddedSpecs returns the validated specs of the embedded rules.
func embeddedSpecs() ([]ruleSpec, error) {
	files, err := embeddedFiles()
	if err != nil {
		return nil, err
	}
	return specsOf(files, snapshot.digest, snapshot.specs)
}

// specsOf returns the specs of files: a copy of snap if it was generated
// from exactly these files, else parsed from them. The digest check makes a
// stale snapshot (YAML edited, go generate forgotten) cost time, never
// behaviour.
func specsOf(files []RuleFile, digest uint32, snap []ruleSpec) ([]ruleSpec, error) {
	if snap == nil || rulesDigest(files) != digest {
		return parseFiles(files)
	}
	// The copy is New's own: compilePatternsLazily writes to it, and
	// callers may run New concurrently. The slices inside are shared,
	// read-only.
	specs := slices.Clone(snap)
	for i := range specs {
		specs[i].compilePatternsLazily()
	}
	return specs, nil
}

// rulesDigest identifies the names and contents of files. CRC-32: a check
// against edits, not against an adversary. (IEEE, not Castagnoli: the
// latter's tables cost a fresh process 0.15 ms to build.)
func rulesDigest(files []RuleFile) uint32 {
	h := crc32.NewIEEE()
	for _, f := range files {
		h.Write([]byte(f.Name + "\x00" + strconv.Itoa(len(f.Data)) + "\x00"))
		h.Write(f.Data)
	}
	return h.Sum32()
}

// phrasesOf returns the interned phrase list of set, by phrase ID.
func phrasesOf(set *Set) []string {
	phrases := make([]string, set.phrases.nPhrases)
	for _, r := range set.rules {
		for i, id := range r.phraseIDs {
			phrases[id] = strings.ToLower(r.spec.Phrases[i])
		}
		for i, id := range r.notPhraseIDs {
			phrases[id] = strings.ToLower(r.spec.NotPhrases[i])
		}
	}
	return phrases
}
