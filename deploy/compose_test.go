package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"go.yaml.in/yaml/v4"
)

// repoRoot is the repository root, seen from this package's directory (where go test runs).
const repoRoot = ".."

// composeFile is the part of docker-compose.yml these tests look at.
type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]*struct {
		External bool `yaml:"external"`
	} `yaml:"volumes"`
}

type service struct {
	Image       string       `yaml:"image"`
	Build       *build       `yaml:"build"`
	Profiles    []string     `yaml:"profiles"`
	Environment environment  `yaml:"environment"`
	DependsOn   dependsOn    `yaml:"depends_on"`
	Ports       []string     `yaml:"ports"`
	Volumes     []string     `yaml:"volumes"`
	Healthcheck *healthcheck `yaml:"healthcheck"`
}

type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type healthcheck struct {
	Test        stringOrList `yaml:"test"`
	Interval    string       `yaml:"interval"`
	Timeout     string       `yaml:"timeout"`
	StartPeriod string       `yaml:"start_period"`
	Retries     int          `yaml:"retries"`
}

// environment is a service's environment, written as a list of NAME=value (or NAME alone: passed through from
// the shell, recorded with an empty value) or as a mapping.
type environment map[string]string

func (e *environment) UnmarshalYAML(node *yaml.Node) error {
	*e = environment{}
	switch node.Kind {
	case yaml.SequenceNode:
		var items []string
		if err := node.Decode(&items); err != nil {
			return fmt.Errorf("environment list: %w", err)
		}
		for _, item := range items {
			name, value, _ := strings.Cut(item, "=")
			(*e)[name] = value
		}
	case yaml.MappingNode:
		var m map[string]string
		if err := node.Decode(&m); err != nil {
			return fmt.Errorf("environment mapping: %w", err)
		}
		for name, value := range m {
			(*e)[name] = value
		}
	default:
		return fmt.Errorf("environment: line %d: want a list or a mapping", node.Line)
	}
	return nil
}

// dependsOn maps each dependency to its condition; the short list form means service_started.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(node *yaml.Node) error {
	*d = dependsOn{}
	switch node.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := node.Decode(&names); err != nil {
			return fmt.Errorf("depends_on list: %w", err)
		}
		for _, name := range names {
			(*d)[name] = "service_started"
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := node.Decode(&m); err != nil {
			return fmt.Errorf("depends_on mapping: %w", err)
		}
		for name, dep := range m {
			cond := dep.Condition
			if cond == "" {
				cond = "service_started"
			}
			(*d)[name] = cond
		}
	default:
		return fmt.Errorf("depends_on: line %d: want a list or a mapping", node.Line)
	}
	return nil
}

// stringOrList is a health check test: ["CMD", ...], ["CMD-SHELL", "..."] or a shell string.
type stringOrList []string

func (s *stringOrList) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		*s = stringOrList{"CMD-SHELL", node.Value}
		return nil
	}
	var items []string
	if err := node.Decode(&items); err != nil {
		return fmt.Errorf("healthcheck test: %w", err)
	}
	*s = items
	return nil
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

// active lists, sorted, the services `docker compose --profile p ...` runs: those without profiles and those in
// one of the given profiles.
func (c composeFile) active(profiles ...string) []string {
	var names []string
	for name, s := range c.Services {
		if len(s.Profiles) == 0 || slices.ContainsFunc(s.Profiles, func(p string) bool { return slices.Contains(profiles, p) }) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

var defaultValue = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}`)

// resolveDefaults replaces each ${NAME:-default} by its default: what compose uses with a clean environment.
func resolveDefaults(s string) string {
	return defaultValue.ReplaceAllString(s, "$1")
}

// isKurrentDB tells whether a service runs EventStoreDB or KurrentDB.
func (s service) isKurrentDB() bool {
	image := resolveDefaults(s.Image)
	return strings.Contains(image, "kurrentdb") || strings.Contains(image, "eventstore/eventstore")
}

// namedVolume returns the named volume mounted at target, if any.
func (s service) namedVolume(target string) (string, bool) {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target && !strings.HasPrefix(parts[0], ".") && !strings.HasPrefix(parts[0], "/") {
			return parts[0], true
		}
	}
	return "", false
}

// publishes reports whether the service publishes containerPort on the host.
func (s service) publishes(containerPort int) bool {
	for _, p := range s.Ports {
		parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
		if parts[len(parts)-1] == strconv.Itoa(containerPort) {
			return true
		}
	}
	return false
}

func TestComposeProfiles(t *testing.T) {
	c := loadCompose(t)
	tests := []struct {
		name     string
		profiles []string
		want     []string
	}{
		{"default", nil, []string{"csc", "eventstore", "grafana", "prometheus"}},
		{"cluster", []string{"cluster"}, []string{"csc", "csc-cluster", "eventstore", "grafana", "node1", "node2", "node3", "prometheus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.active(tt.profiles...)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("services run: got %v, want %v", got, tt.want)
			}
			for _, name := range got {
				for dep := range c.Services[name].DependsOn {
					if !slices.Contains(got, dep) {
						t.Errorf("%s depends on %s, which this profile does not run", name, dep)
					}
				}
			}
		})
	}
}

func TestComposeWaitsAreBackedByHealthChecks(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for dep, cond := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s depends on undefined service %s", name, dep)
			case cond == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
	for name, s := range c.Services {
		h := s.Healthcheck
		if h == nil {
			continue
		}
		if len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
			t.Errorf("%s: healthcheck test %q: want [CMD, ...] or [CMD-SHELL, ...]", name, h.Test)
		}
		for field, d := range map[string]string{"interval": h.Interval, "timeout": h.Timeout, "start_period": h.StartPeriod} {
			if d == "" {
				continue
			}
			if _, err := time.ParseDuration(d); err != nil {
				t.Errorf("%s: healthcheck %s %q: %v", name, field, d, err)
			}
		}
		if h.Retries < 1 {
			t.Errorf("%s: healthcheck retries %d, want at least 1", name, h.Retries)
		}
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Build != nil {
			if s.Build.Context != "." || s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("%s: builds %s/%s, want ./Dockerfile", name, s.Build.Context, s.Build.Dockerfile)
			}
			continue
		}
		image := resolveDefaults(s.Image)
		slash := strings.LastIndex(image, "/")
		colon := strings.LastIndex(image, ":")
		if colon <= slash {
			t.Errorf("%s: image %q has no tag", name, image)
			continue
		}
		if tag := image[colon+1:]; tag == "latest" || strings.Contains(tag, "$") {
			t.Errorf("%s: image %q is not pinned", name, image)
		}
	}
}

func TestComposeVolumesAndMounts(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			source, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(source, ".") || strings.HasPrefix(source, "/") {
				if _, err := os.Stat(filepath.Join(repoRoot, source)); err != nil {
					t.Errorf("%s mounts %s: %v", name, source, err)
				}
				continue
			}
			if _, ok := c.Volumes[source]; !ok {
				t.Errorf("%s uses volume %s, which is not declared", name, source)
			}
		}
	}
}

// removedOptions are EventStoreDB options that KurrentDB 25+ refuses at start-up (or that 24.2 removed with the
// external TCP API), as normalized option names (lower case, no separators).
var removedOptions = []string{
	"intip", "extip", "inttcpport", "exttcpport", "inthttpport", "exthttpport", "inthostadvertiseas",
	"exthostadvertiseas", "advertisehttpporttoclientas", "httpportadvertiseas", "inttcpportadvertiseas",
	"exttcpportadvertiseas", "inttcpheartbeattimeout", "inttcpheartbeatinterval", "exttcpheartbeattimeout",
	"exttcpheartbeatinterval", "enableexternaltcp", "disableexternaltcptls", "advertisetcpporttoclientas",
	"nodetcpport", "nodetcpportadvertiseas", "nodeheartbeatinterval", "nodeheartbeattimeout",
}

// kurrentOption turns an environment variable into the option it sets ("KURRENTDB_CLUSTER_SIZE" ->
// "clustersize"), or "" when it is not a server option.
func kurrentOption(env string) string {
	for _, prefix := range []string{"KURRENTDB_", "EVENTSTORE_"} {
		if rest, ok := strings.CutPrefix(env, prefix); ok {
			return strings.ToLower(strings.ReplaceAll(rest, "_", ""))
		}
	}
	return ""
}

func TestComposeKurrentDBNodes(t *testing.T) {
	c := loadCompose(t)
	nodes := 0
	for name, s := range c.Services {
		if !s.isKurrentDB() {
			continue
		}
		nodes++
		options := map[string]string{}
		for env, value := range s.Environment {
			opt := kurrentOption(env)
			if opt == "" {
				t.Errorf("%s: environment %s is not a KURRENTDB_ option", name, env)
				continue
			}
			if slices.Contains(removedOptions, opt) {
				t.Errorf("%s: %s sets an option KurrentDB 25+ refuses", name, env)
			}
			options[opt] = value
		}
		for opt, want := range map[string]string{"insecure": "true", "runprojections": "None", "startstandardprojections": "false"} {
			if got := options[opt]; !strings.EqualFold(got, want) {
				t.Errorf("%s: option %s = %q, want %q", name, opt, got, want)
			}
		}
		if _, ok := s.namedVolume("/var/lib/kurrentdb"); !ok {
			t.Errorf("%s: no named volume on /var/lib/kurrentdb", name)
		}
		if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "localhost:2113/health/live") {
			t.Errorf("%s: want a healthcheck on http://localhost:2113/health/live", name)
		}
		if !s.publishes(2113) {
			t.Errorf("%s: does not publish port 2113 (the UI)", name)
		}
	}
	if nodes != 4 {
		t.Errorf("%d KurrentDB services, want 4 (one single node, three cluster nodes)", nodes)
	}
}

func TestComposeClusterGossip(t *testing.T) {
	c := loadCompose(t)
	var nodes []string
	for name, s := range c.Services {
		if s.isKurrentDB() && slices.Contains(s.Profiles, "cluster") {
			nodes = append(nodes, name)
		}
	}
	slices.Sort(nodes)
	if len(nodes) != 3 {
		t.Fatalf("cluster nodes %v, want 3", nodes)
	}
	for _, name := range nodes {
		t.Run(name, func(t *testing.T) {
			options := map[string]string{}
			for env, value := range c.Services[name].Environment {
				options[kurrentOption(env)] = value
			}
			if got := options["clustersize"]; got != strconv.Itoa(len(nodes)) {
				t.Errorf("ClusterSize = %q, want %d", got, len(nodes))
			}
			if got := options["discoverviadns"]; got != "false" {
				t.Errorf("DiscoverViaDns = %q, want false (gossip seeds)", got)
			}
			var want []string
			for _, other := range nodes {
				if other != name {
					want = append(want, other+":2113")
				}
			}
			seeds := strings.Split(options["gossipseed"], ",")
			slices.Sort(seeds)
			if !slices.Equal(seeds, want) {
				t.Errorf("GossipSeed = %v, want the other nodes %v", seeds, want)
			}
			for _, opt := range []string{"nodehostadvertiseas", "replicationhostadvertiseas"} {
				if got := options[opt]; got != name {
					t.Errorf("%s = %q, want the service name %q (what the others and clients resolve)", opt, got, name)
				}
			}
		})
	}
}

func TestComposeCSCStore(t *testing.T) {
	c := loadCompose(t)
	tests := []struct {
		service       string
		wantAddress   string   // single node: the client connects to it directly
		wantSeeds     []string // cluster: the client discovers the leader through these
		minDiscovery  time.Duration
		wantPort      int
		wantDataMount string
	}{
		{service: "csc", wantAddress: "eventstore:2113", wantPort: 8080, wantDataMount: "/data"},
		{service: "csc-cluster", wantSeeds: []string{"node1:2113", "node2:2113", "node3:2113"}, minDiscovery: 20 * time.Second, wantPort: 8080, wantDataMount: "/data"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s, ok := c.Services[tt.service]
			if !ok {
				t.Fatalf("no service %s", tt.service)
			}
			cfg, err := esdb.ParseConnectionString(s.Environment["CSC_STORE"])
			if err != nil {
				t.Fatalf("CSC_STORE %q: %v", s.Environment["CSC_STORE"], err)
			}
			if !cfg.DisableTLS {
				t.Error("CSC_STORE does not say tls=false, but the nodes are insecure")
			}
			var hosts []string
			if cfg.Address != "" {
				hosts = append(hosts, cfg.Address)
			}
			for _, seed := range cfg.GossipSeeds {
				hosts = append(hosts, fmt.Sprintf("%s:%d", seed.Host, seed.Port))
			}
			if tt.wantAddress != "" && (cfg.Address != tt.wantAddress || len(cfg.GossipSeeds) != 0) {
				t.Errorf("CSC_STORE connects to %v, want the single node %s", hosts, tt.wantAddress)
			}
			if tt.wantSeeds != nil && (cfg.Address != "" || !slices.Equal(hosts, tt.wantSeeds)) {
				t.Errorf("CSC_STORE connects to %v, want gossip seeds %v", hosts, tt.wantSeeds)
			}
			if window := time.Duration(cfg.MaxDiscoverAttempts) * time.Duration(cfg.DiscoveryInterval) * time.Millisecond; window < tt.minDiscovery {
				t.Errorf("discovery gives up after about %v, want at least %v (leader election)", window, tt.minDiscovery)
			}
			for _, h := range hosts {
				host, _, _ := strings.Cut(h, ":")
				if cond := s.DependsOn[host]; cond != "service_healthy" {
					t.Errorf("CSC_STORE names %s, but %s does not wait for it to be healthy (condition %q)", host, tt.service, cond)
				}
			}
			_, port, ok := strings.Cut(s.Environment["CSC_ADDR"], ":")
			if p, err := strconv.Atoi(port); !ok || err != nil || !s.publishes(p) || p != tt.wantPort {
				t.Errorf("CSC_ADDR %q: want :%d, published", s.Environment["CSC_ADDR"], tt.wantPort)
			}
			if got := s.Environment["CSC_DATA"]; got != tt.wantDataMount {
				t.Errorf("CSC_DATA = %q, want %q", got, tt.wantDataMount)
			}
			if _, ok := s.namedVolume(tt.wantDataMount); !ok {
				t.Errorf("no named volume on %s: tokens.json and the data would not survive a new container", tt.wantDataMount)
			}
		})
	}
}
