package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// csc bench --peer FILE: the comparison with the peer github.com/hallgren/eventsourcing (its SQL
// event store) is measured by the separate program bench/peer, in its own module
// (github.com/metropolis/csc/bench) so that this module does not depend on the peer. `make bench`
// runs it first; its JSON file is read here and its figures join the report's table, goals and
// descriptions.

// peerBenchFormat is the layout of bench/peer's file that this code reads.
const peerBenchFormat = "csc-bench-peer/1"

// peerBenchGoal is issue 8's goal: durable appends with 64 writers at least 10× the peer's on the
// same workload, driver and pragmas.
const peerBenchGoal = 10

// peerBenchFile is bench/peer's JSON file (bench/peer/main.go, peerFile).
type peerBenchFile struct {
	Format      string            `json:"format"`
	Command     string            `json:"command"`
	Date        time.Time         `json:"date"`
	GoVersion   string            `json:"go_version"`
	Dir         string            `json:"dir"`
	PeerModules []peerBenchModule `json:"peer_modules"`
	Driver      struct {
		Name    string `json:"name"`
		Module  string `json:"module"`
		Version string `json:"version"`
	} `json:"driver"`
	Pragmas []string        `json:"pragmas"`
	Loads   []peerBenchLoad `json:"loads"`
}

type peerBenchModule struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

// peerBenchLoad is one writer count; the medians bench/peer computed are recomputed here from the
// rounds (setMedianRound), like every other row of the report.
type peerBenchLoad struct {
	Writers     int              `json:"writers"`
	OursN       int              `json:"ours_n"`
	PeerN       int              `json:"peer_n"`
	PeerPool    int              `json:"peer_pool"`
	PeerSetup   string           `json:"peer_setup"`
	Rounds      []peerBenchRound `json:"rounds"`
	OursVsPeer  float64          `json:"ours_vs_peer_median"`
	PeerVsFsync float64          `json:"peer_vs_fsync_median"`
}

type peerBenchRound struct {
	Ours        float64 `json:"ours_appends_per_s"`
	OursFsync   float64 `json:"ours_fsync_per_s"`
	Peer        float64 `json:"peer_appends_per_s"`
	PeerFsync   float64 `json:"peer_fsync_per_s"`
	OursVsPeer  float64 `json:"ours_vs_peer"`
	PeerVsFsync float64 `json:"peer_vs_fsync"`
	OursFirst   bool    `json:"ours_first"`
}

// peerBench is the peer comparison as the report shows it.
type peerBench struct {
	rows        []benchRow
	measurement benchMeasurement
}

// readPeerBench reads bench/peer's file at path; nil when path is "" (no --peer).
func readPeerBench(path string) (*peerBench, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("peer figures: %w", err)
	}
	f, err := decodePeerBench(b)
	if err != nil {
		return nil, fmt.Errorf("peer figures %s: %w (write them with `cd bench && go run ./peer --out FILE`)", path, err)
	}
	return &peerBench{rows: f.rows(), measurement: f.measurement()}, nil
}

// decodePeerBench decodes and checks a file: fields unknown here mean another layout.
func decodePeerBench(b []byte) (peerBenchFile, error) {
	var f peerBenchFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return peerBenchFile{}, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return peerBenchFile{}, errors.New("decode: data after the JSON object")
	}
	if f.Format != peerBenchFormat {
		return peerBenchFile{}, fmt.Errorf("format %q, want %q", f.Format, peerBenchFormat)
	}
	if len(f.PeerModules) == 0 || f.Driver.Name == "" || f.Driver.Version == "" || len(f.Pragmas) == 0 {
		return peerBenchFile{}, errors.New("the peer's modules, the driver or the pragmas are missing")
	}
	if len(f.Loads) == 0 {
		return peerBenchFile{}, errors.New("no figures")
	}
	for _, l := range f.Loads {
		if l.Writers < 1 || l.OursN < l.Writers || l.PeerN < l.Writers || len(l.Rounds) == 0 {
			return peerBenchFile{}, fmt.Errorf("load of %d writers: %d and %d appends, %d rounds: want at least one append per writer and one round",
				l.Writers, l.OursN, l.PeerN, len(l.Rounds))
		}
		for i, r := range l.Rounds {
			for _, v := range []float64{r.Ours, r.OursFsync, r.Peer, r.PeerFsync} {
				if !(v > 0) || math.IsInf(v, 0) {
					return peerBenchFile{}, fmt.Errorf("%s, round %d: figure %v, want positive and finite", benchCount(l.Writers, "writer", "writers"), i+1, v)
				}
			}
		}
	}
	return f, nil
}

// peerName names the peer's store with its version.
func (f peerBenchFile) peerName() string {
	name := "github.com/hallgren/eventsourcing/eventstore/sql"
	for _, m := range f.PeerModules {
		if m.Path == name {
			return strings.TrimPrefix(name, "github.com/") + " " + m.Version
		}
	}
	return strings.TrimPrefix(f.PeerModules[0].Path, "github.com/") + " " + f.PeerModules[0].Version
}

// rows are two rows per writer count: the peer's appends/s against the raw fsync rate around it,
// and ours (measured by bench/peer in the same rounds) against the peer's.
func (f peerBenchFile) rows() []benchRow {
	var rows []benchRow
	for _, l := range f.Loads {
		writers := benchCount(l.Writers, "writer", "writers")
		key := fmt.Sprintf("peer/%s/%d", f.Driver.Name, l.Writers)
		peer := benchRow{
			Key: key, Name: "peer's durable appends (" + f.peerName() + "), " + writers,
			Driver: f.Driver.Name, Unit: "appends/s", Sample: benchCount(l.PeerN, "save", "saves"),
		}
		if l.PeerPool > 0 {
			peer.Sample += fmt.Sprintf(", database/sql pool of %d (db.SetMaxOpenConns(%d), as the peer's SQLite tests)", l.PeerPool, l.PeerPool)
		}
		ours := benchRow{
			Key: key + "/ours", Name: "durable appends against the peer, " + writers,
			Driver: f.Driver.Name, Unit: "appends/s",
			Sample: benchCount(l.OursN, "append", "appends") + ", by bench/peer in the peer's rounds",
		}
		if l.Writers == appendsGoalWriters {
			ours.Goal = peerBenchGoal
		}
		var peerRounds, oursRounds []benchRound
		for _, r := range l.Rounds {
			peerRounds = append(peerRounds, benchRound{value: r.Peer, base: r.PeerFsync})
			oursRounds = append(oursRounds, benchRound{value: r.Ours, base: r.Peer})
		}
		peer.setMedianRound(peerRounds, benchBase{Name: fsyncBaseName, Unit: "fsync/s"})
		ours.setMedianRound(oursRounds, benchBase{Name: "the peer", Unit: "appends/s", When: "in the same round"})
		rows = append(rows, peer, ours)
	}
	return rows
}

// measurement describes the comparison for the report's "What is measured".
func (f peerBenchFile) measurement() benchMeasurement {
	var mods []string
	for _, m := range f.PeerModules {
		mods = append(mods, m.Path+" "+m.Version)
	}
	var setups []string
	for _, l := range f.Loads {
		if !slices.Contains(setups, l.PeerSetup) && l.PeerSetup != "" {
			setups = append(setups, l.PeerSetup)
		}
	}
	about := fmt.Sprintf("The same append workload on the peer github.com/hallgren/eventsourcing's SQL event store (%s) "+
		"and on ours, measured by `%s` (the program bench/peer, in its own module github.com/metropolis/csc/bench so "+
		"that the main module does not depend on the peer; `make bench` runs it just before this report) on %s "+
		"with %s, scratch files in `%s`. Both use the same driver, %s (%s %s), with the same pragmas on our "+
		"store's write connection and on every connection of the peer's: %s. Each writer saves one event at a time to an aggregate of its own through the peer's "+
		"SQL.Save (one transaction: read the aggregate's last version, check the new event's against it, insert, "+
		"commit) with the body and metadata of our benchmark event (about 550 bytes) in the peer's Data and "+
		"Metadata, and waits for Save to return; the file must then hold every event. The peer's setup: %s. "+
		"Within a round the two stores alternate (the order swaps every round), each on a fresh file, with the "+
		"raw fsync loop run just before and just after each; the peer's figure is compared with that fsync rate, "+
		"ours with the peer's figure of the same round.",
		strings.Join(mods, ", "), f.Command, f.Date.UTC().Format("2006-01-02 15:04 MST"), f.GoVersion, f.Dir,
		f.Driver.Name, f.Driver.Module, f.Driver.Version, strings.Join(f.Pragmas, ", "), strings.Join(setups, "; "))
	return benchMeasurement{name: "peer", about: about}
}

// addRows returns rows with the peer's rows after the last appends row, durable or ceiling (at the end when
// there is none), and reports each on progress as the measured rows are.
func (p *peerBench) addRows(rows []benchRow, progress io.Writer) []benchRow {
	if p == nil {
		return rows
	}
	for _, r := range p.rows {
		fmt.Fprintf(progress, "bench: %s\n", r.summary())
	}
	at := len(rows)
	for i, r := range rows {
		if strings.HasPrefix(r.Key, "appends/") || strings.HasPrefix(r.Key, "appends-ceiling/") {
			at = i + 1
		}
	}
	return slices.Insert(slices.Clone(rows), at, p.rows...)
}

// addMeasurement returns measurements with the peer's description after the appends one (at the
// end when it was not run).
func (p *peerBench) addMeasurement(measurements []benchMeasurement) []benchMeasurement {
	if p == nil {
		return measurements
	}
	at := len(measurements)
	if i := slices.IndexFunc(measurements, func(m benchMeasurement) bool { return m.name == "appends" }); i >= 0 {
		at = i + 1
	}
	return slices.Insert(slices.Clone(measurements), at, p.measurement)
}
