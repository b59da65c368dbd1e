package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/metropolis/csc/domain"
	cschttp "github.com/metropolis/csc/http"
)

// DefaultTokenTTL is the lifetime of a token made by csc token issue without --ttl.
const DefaultTokenTTL = 30 * 24 * time.Hour

// runToken is "csc token issue --role R [--city C] [--subject S] [--ttl D] [--data DIR]": it prints a
// bearer token signed with the server's secret (CSC_TOKEN_SECRET, or the data folder's token-secret).
func (m *Main) runToken(_ context.Context, args []string) error {
	const usage = "usage: csc token issue --role member|coordinator|auditor|admin [--city C] [--subject S] [--ttl D] [--data DIR]"
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(m.Stdout, usage)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "issue" {
		return usagef("token: %s", usage)
	}
	fs := flag.NewFlagSet("csc token issue", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	role := fs.String("role", "", "member, coordinator, auditor or admin")
	city := fs.String("city", "", "the member's city slug (members only), e.g. berlin")
	subject := fs.String("subject", "", "the token's subject (default: the role, or member-<city>)")
	ttl := fs.Duration("ttl", DefaultTokenTTL, "lifetime, e.g. 24h")
	data := fs.String("data", m.getenv("CSC_DATA", "./csc-data"), "data folder holding token-secret (env CSC_DATA)")
	if err := parse(fs, args[1:], m.Stdout); err != nil {
		return err
	}
	p := cschttp.Principal{Subject: *subject, Role: domain.Role(*role), City: *city}
	if p.Subject == "" {
		p.Subject = *role
		if p.Role == domain.RoleMember {
			p.Subject = memberSubject(*city)
		}
	}
	if err := cschttp.CheckPrincipal(p); err != nil {
		return usagef("token issue: %w", err)
	}
	if *ttl <= 0 {
		return usagef("token issue: --ttl %v: the lifetime must be positive", *ttl)
	}
	secret, _, err := loadSecret(m.Getenv("CSC_TOKEN_SECRET"), *data, false)
	if err != nil {
		return fmt.Errorf("token issue: %w", err)
	}
	tokens, err := cschttp.NewTokens(secret, m.Now)
	if err != nil {
		return fmt.Errorf("token issue: %w", err)
	}
	token, err := tokens.Issue(p, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(m.Stdout, token)
	return err
}
