//! DINO's self-distillation loss (Caron et al. 2021, eq. 2–4; `DINOLoss` of the reference code).
//!
//! Teacher outputs of the global crops are centred and sharpened, `P_t = softmax((g_t − c) / τ_t)` (no
//! gradient); each student crop predicts every teacher crop except its own view:
//! `L = mean over pairs (t, s), s ≠ t, of mean_i Σ_k −P_t,ik · log softmax(g_s,i / τ_s)_k`.
//! After each step the centre follows the teacher's batch mean: `c ← m·c + (1 − m)·mean_i g_t,i`.

use candle_core::Tensor;
use ctssl_kernels::ops;

use crate::error::{ContrastiveError, Result};
use crate::tensor_ops::{dims2, positive};

/// Temperatures and centre momentum of DINO; the paper's by [`Default`] (the teacher temperature is warmed
/// up from 0.04 to 0.07 in the reference code: the caller passes the current one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DinoLossConfig {
    /// Student temperature τ_s (0.1).
    pub student_temperature: f64,
    /// Teacher temperature τ_t (0.04).
    pub teacher_temperature: f64,
    /// Centre momentum m (0.9).
    pub center_momentum: f64,
}

impl Default for DinoLossConfig {
    fn default() -> Self {
        Self { student_temperature: 0.1, teacher_temperature: 0.04, center_momentum: 0.9 }
    }
}

/// The DINO loss: `student` holds one `[B, K]` output per crop (the global crops first, in the same order as
/// `teacher`), `teacher` one per global crop, `center` is `[1, K]` (or `[K]`). Differentiable in `student`.
pub fn dino_loss(student: &[Tensor], teacher: &[Tensor], center: &Tensor, config: &DinoLossConfig) -> Result<Tensor> {
    const OP: &str = "dino_loss";
    positive(OP, "student temperature", config.student_temperature)?;
    positive(OP, "teacher temperature", config.teacher_temperature)?;
    if teacher.is_empty() || student.len() < teacher.len() || student.len() < 2 {
        return Err(ContrastiveError::shape(OP, "needs ≥ 1 teacher crop and ≥ 2 student crops (global ones first)"));
    }
    let (b, k) = dims2(OP, "student", &student[0])?;
    for t in student.iter().chain(teacher) {
        if t.dims() != [b, k] {
            return Err(ContrastiveError::shape(OP, format!("every crop must be [{b}, {k}], got {:?}", t.dims())));
        }
    }
    let center = center.detach().reshape((1, k))?.to_dtype(student[0].dtype())?;
    let log_students = student
        .iter()
        .map(|s| ops::log_softmax(&(s / config.student_temperature)?))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let mut total: Option<Tensor> = None;
    let mut pairs = 0usize;
    for (it, t) in teacher.iter().enumerate() {
        let sharpened = (t.detach().broadcast_sub(&center)? / config.teacher_temperature)?;
        let p_teacher = ops::softmax_last_dim(&sharpened)?.detach();
        for (_, log_s) in log_students.iter().enumerate().filter(|(v, _)| *v != it) {
            let ce = (&p_teacher * log_s)?.sum(1)?.mean_all()?.neg()?;
            total = Some(match total {
                Some(acc) => (acc + ce)?,
                None => ce,
            });
            pairs += 1;
        }
    }
    let total = total.ok_or_else(|| ContrastiveError::shape(OP, "no student/teacher pair"))?;
    Ok((total / pairs as f64)?)
}

/// The new centre `m·center + (1 − m)·mean(teacher outputs)` (`[1, K]`, detached), over all global crops.
pub fn dino_center_update(center: &Tensor, teacher: &[Tensor], momentum: f64) -> Result<Tensor> {
    const OP: &str = "dino_center_update";
    if !(0.0..=1.0).contains(&momentum) {
        return Err(ContrastiveError::param(OP, format!("momentum must be in [0, 1], got {momentum}")));
    }
    if teacher.is_empty() {
        return Err(ContrastiveError::shape(OP, "needs at least one teacher crop"));
    }
    let all = Tensor::cat(&teacher.iter().map(|t| t.detach()).collect::<Vec<_>>(), 0)?;
    let (_, k) = dims2(OP, "teacher", &all)?;
    let batch_center = all.mean_keepdim(0)?;
    let center = center.detach().reshape((1, k))?.to_dtype(all.dtype())?;
    Ok(((center * momentum)? + (batch_center * (1.0 - momentum))?)?)
}
