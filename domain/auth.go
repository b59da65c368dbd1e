package domain

// Authorize decides whether the actor in ctx may give the command named cmd (a CommandName) for a
// city. city is the city the command acts for: the item's city, the proposal's city, or "" when it
// is not known yet (then only the role is checked). It returns a *ForbiddenError or nil. The table
// is in the package documentation; the deciders call Authorize themselves, and entry points (HTTP)
// may call it early with city "" to refuse before reading anything.
func Authorize(ctx Context, cmd string, city string) error {
	deny := func(reason string) error {
		return &ForbiddenError{Command: cmd, Role: ctx.Role, City: ctx.City, Reason: reason}
	}
	coordinatorOnly := false
	switch cmd {
	case CmdLaunch, CmdJoin, CmdRegisterMember, CmdRemoveMember, CmdApprove, CmdRequestChanges, CmdReject:
		coordinatorOnly = true
	case CmdPropose, CmdRevise, CmdStart, CmdSubmitUpdate, CmdCorrectMeasurement, CmdPutOnHold, CmdResume,
		CmdComplete, CmdCancel:
	default:
		return deny("unknown command")
	}
	switch ctx.Role {
	case RoleCoordinator, RoleAdmin:
		return nil
	case RoleAuditor:
		return deny("auditors never write")
	case RoleMember:
		if coordinatorOnly {
			return deny("only coordinators may do this")
		}
		if ctx.City == "" {
			return deny("a member must belong to a city")
		}
		if city != "" && city != ctx.City {
			return deny("members act only for their own city")
		}
		return nil
	case "":
		return deny("no role")
	}
	return deny("unknown role")
}
