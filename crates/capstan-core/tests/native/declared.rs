//! The native version a project declares, read from its Gradle file or Xcode project.

use capstan_core::native::declared_native_version;
use semver::Version;

use crate::fixtures::{Project, Vcs, gradle};

#[test]
fn gradle_first_then_xcode_then_nothing() {
    let project = Project::new(Vcs::None);
    let declared = declared_native_version(&project.project()).unwrap().unwrap();
    assert_eq!((declared.version, declared.file.as_str()), (Version::new(1, 4, 0), "android/app/build.gradle"));

    project.remove("android/app/build.gradle");
    let declared = declared_native_version(&project.project()).unwrap().unwrap();
    assert_eq!(
        (declared.version, declared.file.as_str()),
        (Version::new(1, 3, 0), "ios/App/App.xcodeproj/project.pbxproj")
    );

    project.write("android/app/build.gradle.kts", &gradle("2.0.1").replace("versionName \"", "versionName = \""));
    let declared = declared_native_version(&project.project()).unwrap().unwrap();
    assert_eq!((declared.version, declared.file.as_str()), (Version::new(2, 0, 1), "android/app/build.gradle.kts"));

    project.remove("android/app/build.gradle.kts");
    project.write("ios/App/App.xcodeproj/project.pbxproj", &crate::fixtures::pbxproj("\"$(APP_VERSION)\""));
    assert_eq!(
        declared_native_version(&project.project()).unwrap(),
        None,
        "the caller falls back to the bundle version"
    );
}

#[test]
fn a_computed_version_name_falls_through_to_xcode() {
    let project = Project::new(Vcs::None);
    project.write(
        "android/app/build.gradle",
        &gradle("1.4").replace("versionName \"1.4\"", "versionName rootProject.ext.appVersion"),
    );
    let declared = declared_native_version(&project.project()).unwrap().unwrap();
    assert_eq!(declared.version, Version::new(1, 3, 0));
}
