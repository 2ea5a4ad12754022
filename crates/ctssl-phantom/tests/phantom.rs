//! Public behaviour of ctssl-phantom: determinism, tissue HU, noise, labels, pools, written form.

use std::collections::HashSet;

use ctssl_phantom::probe::{features, task_window};
use ctssl_phantom::{
    write_dataset, Dataset, Organ, Phantom, PhantomConfig, Protocol, Region, Role, Task, Tissue, ALL_ORGANS,
    ALL_TISSUES,
};

fn tiny(seed: u64) -> PhantomConfig {
    PhantomConfig::tiny(seed)
}

#[test]
fn same_seed_same_slices_different_seed_different_slices() {
    let a = Phantom::new(tiny(11)).unwrap();
    let p1 = a.patient(0).unwrap();
    let p2 = Phantom::new(tiny(11)).unwrap().patient(0).unwrap();
    assert_eq!(p1.slices, p2.slices);
    assert_eq!(p1.samples, p2.samples);
    // Independent of the number of threads.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let p3 = pool.install(|| a.patient(0).unwrap());
    assert_eq!(p1.slices, p3.slices);
    let other = Phantom::new(tiny(12)).unwrap().patient(0).unwrap();
    assert_ne!(p1.slices[3].values, other.slices[3].values);
    // Different patients of one dataset differ too.
    let q = a.patient(1).unwrap();
    assert_ne!(p1.slices[3].values, q.slices[3].values);
}

/// Mean noise-free HU over pixels whose 5 × 5 neighbourhood is one tissue.
fn interior_means(config: PhantomConfig) -> Vec<(Tissue, f64, usize)> {
    let phantom = Phantom::new(config).unwrap();
    let mut sums = vec![(0.0f64, 0usize); ALL_TISSUES.len()];
    for i in 0..phantom.plans().len() {
        let p = phantom.patient(i).unwrap();
        for s in &p.slices {
            let n = s.size;
            for r in 2..n - 2 {
                for c in 2..n - 2 {
                    let t = s.tissue_map[r * n + c];
                    let same = (r - 2..=r + 2).all(|rr| (c - 2..=c + 2).all(|cc| s.tissue_map[rr * n + cc] == t));
                    if same && s.lesion_map[r * n + c] == 0 {
                        sums[t as usize].0 += s.values[r * n + c] as f64;
                        sums[t as usize].1 += 1;
                    }
                }
            }
        }
    }
    ALL_TISSUES
        .iter()
        .map(|&t| (t, sums[t as usize].0 / sums[t as usize].1.max(1) as f64, sums[t as usize].1))
        .collect()
}

#[test]
fn tissue_hu_lies_in_the_literature_ranges() {
    let config = PhantomConfig {
        image_size: 96,
        torso_patients: 2,
        head_patients: 1,
        pretrain_torso_patients: 0,
        pretrain_head_patients: 0,
        scanner_noise: false,
        ..PhantomConfig::tiny(5)
    };
    // Cortical bone is a few mm thin everywhere (skull tables, shells of the bones): no pixel is far
    // enough inside it, so it is checked by the brightest pixels instead.
    let phantom = Phantom::new(config.clone()).unwrap();
    let torso = phantom.patient(0).unwrap();
    let mut all: Vec<f32> = torso.slices.iter().flat_map(|s| s.values.iter().copied()).collect();
    all.sort_by(f32::total_cmp);
    let top = all[all.len() - 1 - all.len() / 2000];
    assert!((600.0..=1700.0).contains(&top), "brightest bone {top}");
    let means = interior_means(config);
    let mut checked = 0;
    for (t, mean, count) in means {
        if count < 20 || t == Tissue::CorticalBone {
            continue;
        }
        let (lo, hi) = t.hu_range();
        // Slack: texture and partial volume move a tissue's interior mean a little; the lung also has
        // its dependent-density gradient.
        let slack = match t {
            Tissue::Lung => 60.0,
            Tissue::CorticalBone | Tissue::CancellousBone => 150.0,
            // Thin structures next to bone (discs, costal cartilage) take some bone by partial volume.
            Tissue::Breast | Tissue::BowelContent | Tissue::Cartilage => 40.0,
            _ => 6.0,
        };
        assert!(
            mean >= (lo - slack) as f64 && mean <= (hi + slack) as f64,
            "{}: mean {mean:.1} HU outside {lo}..{hi}",
            t.name()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} tissues had interior pixels");
}

#[test]
fn scanner_noise_is_within_10_to_30_hu_in_air_and_lower_in_the_head() {
    let phantom = Phantom::new(tiny(21)).unwrap();
    for plan in phantom.plans() {
        let model = phantom.model(plan.index).unwrap();
        let slice = model.render_slice(0).unwrap();
        let n = slice.size;
        // Homogeneous air in the image corners (outside the body).
        let mut values = Vec::new();
        for r in 0..8 {
            for c in 0..8 {
                for (rr, cc) in [(r, c), (r, n - 1 - c), (n - 1 - r, c), (n - 1 - r, n - 1 - c)] {
                    if slice.tissue_map[rr * n + cc] == Tissue::Air as u8 {
                        values.push(slice.values[rr * n + cc] as f64);
                    }
                }
            }
        }
        assert!(values.len() > 100);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
        assert!((mean + 1000.0).abs() < 5.0, "air mean {mean}");
        let expected = model.scanner.noise_std as f64;
        assert!((std - expected).abs() < 0.25 * expected + 0.5, "{}: std {std:.1} vs {expected:.1}", plan.id);
        match plan.protocol {
            Protocol::Torso => assert!((10.0..=30.0).contains(&expected)),
            Protocol::Head => assert!((3.0..=9.0).contains(&expected)),
        }
    }
}

#[test]
fn scanner_settings_vary_within_their_ranges() {
    let phantom = Phantom::new(PhantomConfig { torso_patients: 12, head_patients: 4, ..tiny(3) }).unwrap();
    let mut thickness = HashSet::new();
    for plan in phantom.plans() {
        let m = phantom.model(plan.index).unwrap();
        let spacing_512 = m.scanner.fov_mm / 512.0;
        match plan.protocol {
            Protocol::Torso => assert!((0.6..=0.9).contains(&spacing_512), "{spacing_512}"),
            Protocol::Head => assert!((0.43..=0.55).contains(&spacing_512), "{spacing_512}"),
        }
        assert!((1.0..=5.0).contains(&m.scanner.slice_thickness));
        assert!((m.scanner.pixel_spacing - m.scanner.fov_mm / 64.0).abs() < 1e-4);
        thickness.insert((m.scanner.slice_thickness * 100.0) as i32);
    }
    assert!(thickness.len() > 10);
}

#[test]
fn labels_agree_with_the_drawn_lesions_and_are_balanced() {
    let config = PhantomConfig {
        torso_patients: 6,
        head_patients: 6,
        pretrain_torso_patients: 0,
        pretrain_head_patients: 0,
        ..PhantomConfig::tiny(8)
    };
    let min_lung = config.lung.min_lesion_pixels as usize;
    let min_head = config.head.min_lesion_pixels as usize;
    let dataset = Dataset::generate(config).unwrap();
    for task in [Task::Lung, Task::Head] {
        let samples = dataset.samples(task);
        let positives = samples.iter().filter(|s| s.label == 1).count();
        let share = positives as f64 / samples.len() as f64;
        assert!(samples.len() >= 20, "{}: {} samples", task.name(), samples.len());
        assert!((0.2..=0.8).contains(&share), "{}: {positives} of {} positive", task.name(), samples.len());
        for s in &samples {
            let p = &dataset.patients[s.patient];
            let slice = &p.slices[s.slice];
            let min = if task == Task::Lung { min_lung } else { min_head };
            if s.label == 1 {
                assert!(slice.lesion_pixels() >= min);
            } else {
                assert_eq!(slice.lesion_trace, 0);
                assert_eq!(slice.lesion_pixels(), 0);
            }
            match task {
                Task::Lung => assert_eq!(slice.region, Region::Chest),
                _ => assert_eq!(slice.region, Region::Head),
            }
        }
    }
    // Lesion pixels are brighter than the aerated lung around them.
    for s in dataset.samples(Task::Lung).iter().filter(|s| s.label == 1) {
        let slice = &dataset.patients[s.patient].slices[s.slice];
        let n = slice.size;
        let (mut lesion, mut lung) = (Vec::new(), Vec::new());
        for r in 1..n - 1 {
            for c in 1..n - 1 {
                let i = r * n + c;
                let pure = |t: u8, m: u8| {
                    (r - 1..=r + 1).all(|rr| {
                        (c - 1..=c + 1)
                            .all(|cc| slice.tissue_map[rr * n + cc] == t && slice.lesion_map[rr * n + cc] == m)
                    })
                };
                if pure(Tissue::Lung as u8, 1) {
                    lesion.push(slice.values[i] as f64);
                } else if pure(Tissue::Lung as u8, 0) {
                    lung.push(slice.values[i] as f64);
                }
            }
        }
        if lesion.len() < 3 || lung.len() < 10 {
            continue;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean(&lesion) > mean(&lung) + 40.0, "lesion {:.0} vs lung {:.0}", mean(&lesion), mean(&lung));
    }
}

#[test]
fn organ_crops_cover_every_class_centred_on_the_organ() {
    let dataset = Dataset::generate(PhantomConfig {
        torso_patients: 2,
        head_patients: 0,
        pretrain_torso_patients: 0,
        pretrain_head_patients: 0,
        torso_slices: 24,
        ..PhantomConfig::tiny(4)
    })
    .unwrap();
    let samples = dataset.samples(Task::Organ);
    let classes: HashSet<u32> = samples.iter().map(|s| s.label).collect();
    assert_eq!(classes.len(), ALL_ORGANS.len(), "classes present: {classes:?}");
    for s in &samples {
        let crop = s.crop.unwrap();
        let slice = &dataset.patients[s.patient].slices[s.slice];
        let organ = Organ::from_label(s.label).unwrap();
        // The organ occupies pixels near the crop centre.
        let n = slice.size as f32;
        let near = slice.organ_map.iter().enumerate().filter(|(i, &o)| {
            let (r, c) = ((*i as f32 / n).floor(), *i as f32 % n);
            o == organ.map_value()
                && (r - crop.center[0]).abs() < crop.extent / 2.0
                && (c - crop.center[1]).abs() < crop.extent / 2.0
        });
        assert!(near.count() > 0, "{} crop misses the organ", organ.name());
        let (img, side) = dataset.image(s).unwrap();
        assert_eq!((img.len(), side), (64 * 64, 64));
        assert!(img.iter().all(|v| v.is_finite()));
        assert_eq!(features(&img, side, task_window(Task::Organ)).len(), 16 * 16 + 16 + 24);
    }
}

#[test]
fn pretraining_pool_never_shares_patients_with_the_labeled_tasks() {
    let dataset = Dataset::generate(tiny(9)).unwrap();
    let labeled: HashSet<&str> =
        dataset.patients.iter().filter(|p| !p.samples.is_empty()).map(|p| p.plan.id.as_str()).collect();
    let pool = dataset.pretrain_slices();
    assert!(!pool.is_empty());
    let pool_ids: HashSet<&str> = pool.iter().map(|&(p, _)| dataset.patients[p].plan.id.as_str()).collect();
    assert!(labeled.is_disjoint(&pool_ids));
    for p in &dataset.patients {
        match p.plan.role {
            Role::Pretrain => assert!(p.samples.is_empty() && p.plan.split.is_none()),
            Role::Labeled => assert!(p.plan.split.is_some()),
        }
    }
    // The pool carries lesions like the labeled patients (labels unused), or none when switched off.
    assert!(dataset.patients.iter().any(|p| p.plan.role == Role::Pretrain && !p.lesions.is_empty()));
    let clean = Dataset::generate(PhantomConfig { pretrain_lesions: false, ..tiny(9) }).unwrap();
    assert!(clean.patients.iter().all(|p| p.plan.role == Role::Labeled || p.lesions.is_empty()));
    // Distinct seeds, distinct IDs, distinct anatomy.
    let seeds: HashSet<u64> = dataset.patients.iter().map(|p| p.plan.seed).collect();
    let ids: HashSet<&str> = dataset.patients.iter().map(|p| p.plan.id.as_str()).collect();
    assert_eq!(seeds.len(), dataset.patients.len());
    assert_eq!(ids.len(), dataset.patients.len());
}

#[test]
fn written_series_read_back_with_the_right_values_geometry_and_labels() {
    let dataset = Dataset::generate(PhantomConfig {
        torso_patients: 1,
        head_patients: 1,
        pretrain_torso_patients: 1,
        pretrain_head_patients: 0,
        ..PhantomConfig::tiny(13)
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = write_dataset(&dataset, dir.path()).unwrap();
    let slices: usize = dataset.patients.iter().map(|p| p.slices.len()).sum();
    assert_eq!(summary.files, slices);
    for p in &dataset.patients {
        for (k, s) in p.slices.iter().enumerate() {
            let path = dir.path().join(&p.plan.id).join(format!("IM{:05}.dcm", k + 1));
            let image = ctssl_io::read_image(&path).unwrap();
            assert_eq!((image.header.rows as usize, image.header.cols as usize), (s.size, s.size));
            assert_eq!(image.header.patient_id, p.plan.id);
            let spacing = image.header.pixel_spacing.unwrap();
            assert!((spacing[0] - s.pixel_spacing as f64).abs() < 1e-4);
            assert!((image.header.slice_thickness.unwrap() - s.slice_thickness as f64).abs() < 1e-4);
            let pos = image.header.image_position.unwrap();
            assert!(pos.iter().zip(&s.position).all(|(a, b)| (a - b).abs() < 1e-3), "{pos:?} vs {:?}", s.position);
            let worst = image.values.iter().zip(&s.values).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 0.5 + 1e-3, "{}: worst difference {worst}", path.display());
        }
        // The series reads back as one series sorted top to bottom.
        assert!(p.slices.windows(2).all(|w| w[0].position[2] > w[1].position[2]));
    }
    let labels = std::fs::read_to_string(dir.path().join("labels.csv")).unwrap();
    let mut lines = labels.lines();
    assert_eq!(lines.next(), Some(ctssl_phantom::write::LABELS_HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let expected: usize = dataset.patients.iter().map(|p| p.samples.len()).sum();
    assert_eq!(rows.len(), expected);
    assert_eq!(summary.label_rows, expected);
    for row in &rows {
        assert_eq!(row.len(), 9);
        assert!(dir.path().join(row[1]).is_file(), "{}", row[1]);
        assert!(["lung", "organ", "head"].contains(&row[2]));
        assert!(["train", "val", "test"].contains(&row[4]));
        assert_eq!(row[5].is_empty(), row[2] != "organ");
    }
    let pretrain = std::fs::read_to_string(dir.path().join("pretrain.csv")).unwrap();
    assert_eq!(pretrain.lines().count() - 1, dataset.pretrain_slices().len());
    assert!(pretrain.lines().skip(1).all(|l| l.starts_with("PT")));
    let patients = std::fs::read_to_string(dir.path().join("patients.csv")).unwrap();
    assert_eq!(patients.lines().count() - 1, dataset.patients.len());
    // The same seed writes the same bytes.
    let again = Dataset::generate(dataset.config.clone()).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    write_dataset(&again, dir2.path()).unwrap();
    for name in
        ["labels.csv", "pretrain.csv", "patients.csv", "T0001/IM00005.dcm", "H0001/IM00002.dcm", "PT0001/IM00001.dcm"]
    {
        let a = std::fs::read(dir.path().join(name)).unwrap();
        let b = std::fs::read(dir2.path().join(name)).unwrap();
        assert!(a == b, "{name} differs between two writes of the same seed");
    }
}

#[test]
fn bad_configs_are_refused() {
    let bad = [
        PhantomConfig { image_size: 4, ..tiny(0) },
        PhantomConfig { split: [0.0, 0.0, 0.0], ..tiny(0) },
        PhantomConfig { lung: ctssl_phantom::LungTask { positive_fraction: 1.5, ..Default::default() }, ..tiny(0) },
        PhantomConfig { head: ctssl_phantom::HeadTask { blood_hu: (90.0, 50.0), ..Default::default() }, ..tiny(0) },
    ];
    for config in bad {
        assert!(matches!(Phantom::new(config), Err(ctssl_phantom::PhantomError::InvalidConfig(_))));
    }
    let phantom = Phantom::new(tiny(0)).unwrap();
    assert!(phantom.patient(999).is_err());
    assert!(phantom.model(0).unwrap().render_slice(999).is_err());
}
