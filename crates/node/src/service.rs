//! The services a node can run and the listeners each one serves: the one list of both, which the
//! configuration's ports, the instance locks, `warnkit serve --only` and `warnkit status` all read.

use anyhow::bail;

/// One service of the contract. Adding a service is a variant here and one function in `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Published files and the distribution job.
    Distribution,
    /// Key uploads.
    Submission,
    /// Registration tokens, TANs, teleTANs (app-facing and internal listener).
    Verification,
    /// Lab results.
    TestResult,
    /// The officers' portal.
    Portal,
    /// The federation gateway (only when named: a country's backend does not run it).
    Gateway,
}

impl Service {
    /// Every service, in the contract's port order.
    pub const ALL: [Service; 6] = [
        Service::Distribution,
        Service::Submission,
        Service::Verification,
        Service::TestResult,
        Service::Portal,
        Service::Gateway,
    ];

    /// The services of the demo's backend (`warnkit demo`, `warnkit serve --demo-clock`): the path of a
    /// phone, without the portal and the gateway.
    pub const DEMO: [Service; 4] = [
        Service::Distribution,
        Service::Submission,
        Service::Verification,
        Service::TestResult,
    ];

    /// Its name on the command line, in lock files and in database names.
    pub fn name(self) -> &'static str {
        match self {
            Service::Distribution => "distribution",
            Service::Submission => "submission",
            Service::Verification => "verification",
            Service::TestResult => "testresult",
            Service::Portal => "portal",
            Service::Gateway => "gateway",
        }
    }

    /// The service called `name`, if any.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The listeners its routers serve (verification has two).
    pub fn listeners(self) -> &'static [&'static str] {
        match self {
            Service::Distribution => &["distribution"],
            Service::Submission => &["submission"],
            Service::Verification => &["verification", "verification_internal"],
            Service::TestResult => &["testresult"],
            Service::Portal => &["portal"],
            Service::Gateway => &["gateway"],
        }
    }

    /// The internal listener that serves its metrics: the gateway's own, so that a backend and a
    /// gateway on one machine do not collide.
    pub fn metrics_listener(self) -> &'static str {
        match self {
            Service::Gateway => "gateway_metrics",
            _ => "metrics",
        }
    }

    /// Whether it runs only when named.
    pub fn opt_in(self) -> bool {
        matches!(self, Service::Gateway)
    }

    /// What `warnkit serve` runs when no service is named: every service that is not opt-in.
    pub fn defaults() -> Vec<Service> {
        Service::ALL.into_iter().filter(|s| !s.opt_in()).collect()
    }

    /// The services `names` (`--only`), or [`Service::defaults`] when empty.
    pub fn select(names: &[impl AsRef<str>]) -> anyhow::Result<Vec<Service>> {
        if names.is_empty() {
            return Ok(Service::defaults());
        }
        let mut selected = Vec::new();
        for name in names {
            let name = name.as_ref();
            match Service::from_name(name) {
                Some(service) if !selected.contains(&service) => selected.push(service),
                Some(_) => {}
                None => {
                    let known: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
                    bail!("unknown service {name:?} (known: {})", known.join(", "))
                }
            }
        }
        Ok(selected)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Listener names in the contract's port order, for `port_base`. New listeners go last, so that adding
/// one moves no existing `port_base` assignment.
pub const LISTENERS: [&str; 9] = [
    "distribution",
    "submission",
    "verification",
    "testresult",
    "portal",
    "verification_internal",
    "gateway",
    // Two, so that a backend and a gateway started with the same `port_base` do not collide.
    "metrics",
    "gateway_metrics",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection() {
        let names = |s: Vec<Service>| s.into_iter().map(Service::name).collect::<Vec<_>>();
        assert_eq!(
            names(Service::select(&[] as &[&str]).unwrap()),
            vec![
                "distribution",
                "submission",
                "verification",
                "testresult",
                "portal"
            ]
        );
        assert_eq!(
            Service::select(&["testresult"]).unwrap(),
            vec![Service::TestResult]
        );
        assert_eq!(Service::select(&["portal"]).unwrap(), vec![Service::Portal]);
        assert_eq!(
            Service::select(&["gateway"]).unwrap(),
            vec![Service::Gateway]
        );
        let err = Service::select(&["nope"]).unwrap_err().to_string();
        assert!(err.contains("known: distribution, submission"), "{err}");
    }

    #[test]
    fn every_listener_has_a_port_and_names_round_trip() {
        for service in Service::ALL {
            assert_eq!(Service::from_name(service.name()), Some(service));
            for listener in service
                .listeners()
                .iter()
                .chain([&service.metrics_listener()])
            {
                assert!(LISTENERS.contains(listener), "{listener}");
            }
        }
        let config = crate::Config::default();
        for listener in LISTENERS {
            assert!(config.port(listener).is_ok(), "{listener}");
        }
    }
}
