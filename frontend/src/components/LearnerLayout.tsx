import { Outlet } from "react-router-dom";
import { SignedInAs, SkipLink } from "./Layout";

/**
 * The learner pages' frame (/learn): who is signed in and Log out, without the admin navigation
 * or organization switcher — a learner opens one quest at a time, from their course.
 */
export function LearnerLayout() {
  return (
    <div className="shell shell-learner">
      <SkipLink />
      <header className="topbar">
        <span className="brand">Questbridge</span>
        <div className="topbar-right">
          <SignedInAs />
        </div>
      </header>
      <main id="main" className="content" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
