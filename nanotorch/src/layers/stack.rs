//! [`Stack`]: `N` layers of one type applied in order, as PyTorch's `nn.ModuleList` and a
//! `for` loop.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

use rand::Rng;

use crate::element::Element;
use crate::layer::{BufferMut, Init, Module, ParamMut};
use crate::shape::StaticDim;

/// `N` layers of type `L`, each with its own parameters and saved values, applied in order:
/// block `k` reads block `k − 1`'s output. A `network!` field written `blocks: [Block; 4]`
/// (or `[Block; L]` with a size parameter `L`) is a `Stack<Block, Const<4>>`; the network's
/// generated `forward` and `backward` run over it as two `for` loops, and keep the values
/// between the blocks in the network's own buffers.
///
/// State-dict names are those of a PyTorch `nn.ModuleList` of the same name:
/// `blocks.0.attn.key.weight`, `blocks.1.attn.key.weight`, ….
#[derive(Clone, Debug)]
pub struct Stack<L, N: StaticDim> {
    blocks: Vec<L>,
    _count: PhantomData<N>,
}

impl<L, N: StaticDim> Stack<L, N> {
    /// The number of blocks, `N`.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the stack has no blocks (`N = 0`).
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The blocks in order.
    pub fn iter(&self) -> std::slice::Iter<'_, L> {
        self.blocks.iter()
    }

    /// The blocks in order, mutably.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, L> {
        self.blocks.iter_mut()
    }
}

impl<L, N: StaticDim> Index<usize> for Stack<L, N> {
    type Output = L;
    fn index(&self, k: usize) -> &L {
        &self.blocks[k]
    }
}

impl<L, N: StaticDim> IndexMut<usize> for Stack<L, N> {
    fn index_mut(&mut self, k: usize) -> &mut L {
        &mut self.blocks[k]
    }
}

impl<L: Init, N: StaticDim> Init for Stack<L, N> {
    /// `N` blocks initialised one after the other from `rng`, as PyTorch builds a
    /// `ModuleList` from a comprehension.
    fn init<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Stack {
            blocks: (0..N::SIZE).map(|_| L::init(rng)).collect(),
            _count: PhantomData,
        }
    }
}

impl<E: Element, L: Module<E>, N: StaticDim> Module<E> for Stack<L, N> {
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_, E>)) {
        for block in &mut self.blocks {
            block.visit_params(f);
        }
    }

    fn visit_named_params(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], ParamMut<'_, E>),
    ) {
        for (k, block) in self.blocks.iter_mut().enumerate() {
            block.visit_named_params(&format!("{prefix}{k}."), f);
        }
    }

    fn visit_named_buffers(
        &mut self,
        prefix: &str,
        f: &mut dyn FnMut(&str, &[usize], BufferMut<'_, E>),
    ) {
        for (k, block) in self.blocks.iter_mut().enumerate() {
            block.visit_named_buffers(&format!("{prefix}{k}."), f);
        }
    }

    fn set_training(&mut self, training: bool) {
        for block in &mut self.blocks {
            block.set_training(training);
        }
    }
}
