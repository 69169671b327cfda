//! Every user-facing string of the portal, in one place: a translation is one more [`Text`] value.

/// The language of the pages; one place to choose another [`Text`].
pub(crate) fn text() -> &'static Text {
    &EN
}

/// The words of the portal in one language.
#[derive(Debug)]
pub struct Text {
    /// `lang` attribute of every page.
    pub lang: &'static str,
    /// Product name in the header and the title bar.
    pub brand: &'static str,
    /// Link that lets keyboard users jump over the header.
    pub skip_to_content: &'static str,
    /// Footer line.
    pub footer: &'static str,
    /// Login page heading.
    pub login_title: &'static str,
    /// Login page explanation.
    pub login_intro: &'static str,
    /// Label of the user name field.
    pub username: &'static str,
    /// Label of the password field.
    pub password: &'static str,
    /// Login button.
    pub sign_in: &'static str,
    /// Wrong user name or password (never says which).
    pub login_failed: &'static str,
    /// Too many failed sign-ins; `{minutes}` is replaced.
    pub login_throttled: &'static str,
    /// Every password check is taken; the sign-in was not tried.
    pub login_busy: &'static str,
    /// Second-factor page heading.
    pub totp_title: &'static str,
    /// Second-factor page explanation.
    pub totp_intro: &'static str,
    /// Label of the one-time code field.
    pub totp_code: &'static str,
    /// Confirm button of the second factor.
    pub verify: &'static str,
    /// A wrong or reused one-time code.
    pub totp_failed: &'static str,
    /// Enrolment page heading.
    pub enrol_title: &'static str,
    /// Enrolment page explanation.
    pub enrol_intro: &'static str,
    /// Caption for the secret shown for manual entry.
    pub enrol_manual: &'static str,
    /// Alternative text of the QR code.
    pub enrol_qr_label: &'static str,
    /// Start page heading.
    pub start_title: &'static str,
    /// "Signed in as"; followed by the user name.
    pub signed_in_as: &'static str,
    /// "Role"; followed by the role.
    pub role: &'static str,
    /// Sign-out button.
    pub sign_out: &'static str,
    /// Heading of the teleTAN box.
    pub teletan_box: &'static str,
    /// What the teleTAN is for.
    pub teletan_intro: &'static str,
    /// The issue button.
    pub issue_teletan: &'static str,
    /// teleTAN page heading.
    pub teletan_title: &'static str,
    /// How to read it aloud.
    pub teletan_read_aloud: &'static str,
    /// Copy button.
    pub copy: &'static str,
    /// After a successful copy.
    pub copied: &'static str,
    /// When the clipboard refused.
    pub copy_failed: &'static str,
    /// Before the countdown.
    pub shown_for: &'static str,
    /// After the display time is over.
    pub teletan_cleared: &'static str,
    /// Link back to the start page.
    pub back_to_start: &'static str,
    /// The officer's own interval; `{seconds}` is replaced.
    pub officer_limit: &'static str,
    /// The verification service's hourly limit.
    pub global_limit: &'static str,
    /// Verification service unreachable.
    pub upstream_failed: &'static str,
    /// A form without a valid CSRF token.
    pub csrf_failed: &'static str,
    /// The signed-in role may not do this.
    pub forbidden: &'static str,
    /// Error page heading.
    pub error_title: &'static str,
    /// Anything else that went wrong.
    pub internal_error: &'static str,
    /// A page that does not exist.
    pub not_found: &'static str,
    /// Hint about the session lifetime on the start page; `{hours}` is replaced.
    pub session_hint: &'static str,
    /// The button to the OpenID provider; `{provider}` is replaced.
    pub sign_in_with: &'static str,
    /// Between that button and the password form.
    pub or_local: &'static str,
    /// The provider did not answer; `{provider}` is replaced.
    pub sso_unreachable: &'static str,
    /// A callback without its sign-in (expired, used twice, or started in another browser).
    pub sso_stale: &'static str,
    /// The provider's answer was refused; `{reason}` is replaced.
    pub sso_refused: &'static str,
    /// Signed in at the provider, but no role maps to a portal role; `{provider}` is replaced.
    pub sso_no_role: &'static str,
    /// Heading of the page between the provider and the start page.
    pub signed_in_title: &'static str,
    /// Link on that page.
    pub continue_: &'static str,
    /// Heading of the event teleTAN box.
    pub event_box: &'static str,
    /// What the event teleTAN is for.
    pub event_intro: &'static str,
    /// Label of the health-authority list.
    pub authority: &'static str,
    /// First, empty choice of that list.
    pub authority_choose: &'static str,
    /// The event issue button.
    pub issue_event_teletan: &'static str,
    /// No authority, or one not in the list.
    pub authority_unknown: &'static str,
    /// Event teleTAN page heading.
    pub event_title: &'static str,
    /// Before the authority's name on the event teleTAN page.
    pub event_for: &'static str,
    /// How to read an event teleTAN aloud (it lives longer).
    pub event_read_aloud: &'static str,
    /// Shown to roles that can issue neither kind.
    pub no_issue_role: &'static str,
    /// Shown instead of the event form while no health authority is configured.
    pub no_authorities: &'static str,
}

/// English, the default.
pub static EN: Text = Text {
    lang: "en",
    brand: "warnkit teleTAN portal",
    skip_to_content: "Skip to content",
    footer: "For authorised health-authority staff only. Every teleTAN issued is recorded with your user name.",
    login_title: "Sign in",
    login_intro: "Sign in with the account your administrator created for you.",
    username: "User name",
    password: "Password",
    sign_in: "Sign in",
    login_failed: "The user name or password is not correct.",
    login_throttled: "Too many failed sign-in attempts for this account. Please wait {minutes} minutes and try again.",
    login_busy: "The portal is busy right now. Please try signing in again in a moment.",
    totp_title: "One-time code",
    totp_intro: "Enter the 6-digit code your authenticator app shows for this portal.",
    totp_code: "6-digit code",
    verify: "Continue",
    totp_failed: "That code is not correct or was already used. Wait for the next code and try again.",
    enrol_title: "Set up your authenticator app",
    enrol_intro: "Scan this code with an authenticator app (for example FreeOTP), then enter the 6-digit code it shows.",
    enrol_manual: "If you cannot scan, enter this key by hand:",
    enrol_qr_label: "QR code for your authenticator app",
    start_title: "Issue a teleTAN",
    signed_in_as: "Signed in as",
    role: "Role",
    sign_out: "Sign out",
    teletan_box: "teleTAN for a positive test",
    teletan_intro: "Issue a teleTAN only after you have confirmed the caller's positive test result. The caller enters it in the app to warn their contacts.",
    issue_teletan: "Issue a teleTAN",
    teletan_title: "teleTAN",
    teletan_read_aloud: "Read the teleTAN to the caller group by group. It is valid for one hour and can be used once.",
    copy: "Copy teleTAN",
    copied: "Copied.",
    copy_failed: "Could not copy. Please select the teleTAN and copy it by hand.",
    shown_for: "This page clears the teleTAN in",
    teletan_cleared: "The teleTAN is no longer shown.",
    back_to_start: "Back to start",
    officer_limit: "You can issue one teleTAN every {seconds} seconds. Please wait a moment and try again.",
    global_limit: "The hourly limit for teleTANs has been reached. Please wait a moment and try again.",
    upstream_failed: "The verification service is not reachable right now. Please try again in a minute.",
    csrf_failed: "This form has expired or did not come from this portal. Please go back, reload the page and try again.",
    forbidden: "Your role is not allowed to do this.",
    error_title: "Something went wrong",
    internal_error: "An internal error occurred. Please try again.",
    not_found: "This page does not exist.",
    session_hint: "You are signed out automatically {hours} hours after signing in.",
    sign_in_with: "Sign in with {provider}",
    or_local: "Or sign in with a portal account:",
    sso_unreachable: "{provider} is not reachable right now. Please try again in a minute or use a portal account.",
    sso_stale: "This sign-in has expired or was started in another browser. Please sign in again.",
    sso_refused: "The sign-in was refused: {reason}. Please sign in again.",
    sso_no_role: "Your account at {provider} has no role for this portal. Please ask your administrator.",
    signed_in_title: "Signed in",
    continue_: "Continue",
    event_box: "Event teleTAN (PIW) for a positive test after an event",
    event_intro: "Choose the health authority you act for. The event teleTAN is valid for two days and can be used once.",
    authority: "Health authority",
    authority_choose: "Choose a health authority",
    issue_event_teletan: "Issue an event teleTAN",
    authority_unknown: "Please choose a health authority from the list.",
    event_title: "Event teleTAN",
    event_for: "Issued for",
    event_read_aloud: "Read the event teleTAN to the caller group by group. It is valid for two days and can be used once.",
    no_issue_role: "Your role cannot issue teleTANs. Please ask your administrator if you need the hotline or event role.",
    no_authorities: "No health authorities are configured, so no event teleTAN can be issued yet. Please ask your administrator to list them under [[portal.health_authorities]] in warnkit.toml.",
};
