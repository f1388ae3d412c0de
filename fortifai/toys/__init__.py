"""The paper's small settings: the 1-D Gaussian (Sec. 3, Fig. 2), the GMM (Algorithm 2) and the VAE on MNIST."""
